// The original faye-websocket 0.11.4 as a server: WebSocket echo with permessage-deflate, and an
// EventSource at /events. Usage: node faye_echo_server.js PORT [CERT KEY] (0 = free port; CERT and KEY:
// serve wss/https); prints "listening PORT".
//
// /events?count=N&retry=S&close=1 sends N events (default 3) with ids continuing from Last-Event-ID,
// the second of each batch named "update" like the original's examples/server.js, then closes the
// stream if close=1 so the browser reconnects after retry seconds (default 1).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const url = require('url');
const WebSocket = require('faye-websocket');
const deflate = require('permessage-deflate');

const port = parseInt(process.argv[2] || '0', 10);
const [certFile, keyFile] = process.argv.slice(3, 5);
const server = certFile
  ? https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) })
  : http.createServer();

server.on('upgrade', (request, socket, body) => {
  if (!WebSocket.isWebSocket(request)) return socket.destroy();
  const ws = new WebSocket(request, socket, body, [], { extensions: [deflate] });
  console.log(JSON.stringify({ event: 'connection', url: request.url, version: ws.version,
                               extensions: request.headers['sec-websocket-extensions'] || '' }));
  ws.on('message', (event) => ws.send(event.data));
  ws.on('close', (event) => console.log(JSON.stringify({ event: 'close', code: event.code,
                                                         reason: event.reason })));
});

server.on('request', (request, response) => {
  const query = url.parse(request.url, true).query;
  if (!WebSocket.EventSource.isEventSource(request)) {
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    return response.end('faye_echo_server\n');
  }
  const es = new WebSocket.EventSource(request, response, {
    retry: parseFloat(query.retry || '1'), ping: 15 });
  const count = parseInt(query.count || '3', 10);
  let id = parseInt(es.lastEventId, 10) || 0;
  console.log(JSON.stringify({ event: 'eventsource', lastEventId: es.lastEventId }));
  let sent = 0;
  const timer = setInterval(() => {
    id += 1; sent += 1;
    if (sent % 3 === 2) es.send('Update ' + id, { event: 'update', id: String(id) });
    else es.send('Time: ' + id, { id: String(id) });
    if (sent >= count) {
      clearInterval(timer);
      if (query.close === '1') es.close();
    }
  }, 20);
  es.on('close', () => clearInterval(timer));
});

server.listen(port, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
