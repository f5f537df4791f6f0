// Echo server built on `ws` 8 with permessage-deflate, an independent peer for faye_websocket's client.
// Usage: node ws_echo_server.js PORT   (PORT 0 picks a free port). Prints "listening PORT" when ready.
'use strict';
const { WebSocketServer } = require('ws');

const port = parseInt(process.argv[2] || '0', 10);
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: true });

server.on('listening', () => console.log('listening ' + server.address().port));
server.on('connection', (ws, req) => {
  console.log(JSON.stringify({ event: 'connection', url: req.url, extensions: ws.extensions,
                               protocol: ws.protocol }));
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('close', (code, reason) => console.log(JSON.stringify({ event: 'close', code,
                                                                reason: reason.toString() })));
});

process.on('SIGTERM', () => process.exit(0));
