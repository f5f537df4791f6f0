// Client built on the original faye-websocket 0.11.4 with permessage-deflate: sends messages, prints
// what comes back as JSON lines, closes with 1000 after the expected number of messages.
// Exit 0 on a clean close. Usage: see client_common.js.
'use strict';
const WebSocket = require('faye-websocket');
const deflate = require('permessage-deflate');
const { parseArgs, toPayload, emit, emitMessage } = require('./client_common');

const options = parseArgs(process.argv);
const ws = new WebSocket.Client(options.url, options.protocols, { extensions: [deflate] });
let received = 0;
const timer = setTimeout(() => { emit({ event: 'timeout' }); process.exit(2); }, options.timeoutMs);

ws.on('open', () => {
  const extensions = (ws.headers && ws.headers['sec-websocket-extensions']) || '';
  emit({ event: 'open', extensions, protocol: ws.protocol });
  for (const message of options.messages) ws.send(toPayload(message));
  if (options.expect === 0) ws.close(1000);
});
ws.on('message', (event) => {
  emitMessage(event.data, typeof event.data !== 'string');
  received += 1;
  if (received === options.expect) ws.close(1000);
});
ws.on('error', (event) => emit({ event: 'error', message: String(event.message) }));
ws.on('close', (event) => {
  clearTimeout(timer);
  emit({ event: 'close', code: event.code, reason: event.reason });
  process.exitCode = event.code === 1000 && received >= options.expect ? 0 : 1;
});
