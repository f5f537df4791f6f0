// Echo server built on `ws` 8 with permessage-deflate, an independent peer for faye_websocket's client.
// Usage: node ws_echo_server.js PORT [CERT KEY]   (PORT 0 picks a free port; CERT and KEY: serve wss).
// Prints "listening PORT" when ready.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');

const port = parseInt(process.argv[2] || '0', 10);
const [certFile, keyFile] = process.argv.slice(3, 5);
const web = certFile
  ? https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) })
  : http.createServer();
const server = new WebSocketServer({ server: web, perMessageDeflate: true });

web.listen(port, '127.0.0.1', () => console.log('listening ' + web.address().port));
server.on('connection', (ws, req) => {
  console.log(JSON.stringify({ event: 'connection', url: req.url, extensions: ws.extensions,
                               protocol: ws.protocol }));
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('close', (code, reason) => console.log(JSON.stringify({ event: 'close', code,
                                                                reason: reason.toString() })));
});

process.on('SIGTERM', () => process.exit(0));
