// Client built on `ws` 8 (permessage-deflate offered): sends messages, prints what comes back as JSON
// lines, closes with 1000 after the expected number of messages. Exit 0 on a clean close.
// Usage: see client_common.js.
'use strict';
const WebSocket = require('ws');
const { parseArgs, toPayload, emit, emitMessage } = require('./client_common');

const options = parseArgs(process.argv);
const ws = new WebSocket(options.url, options.protocols, { perMessageDeflate: true });
let received = 0;
let clean = false;
const timer = setTimeout(() => { emit({ event: 'timeout' }); ws.terminate(); }, options.timeoutMs);

ws.on('open', () => {
  emit({ event: 'open', extensions: ws.extensions, protocol: ws.protocol });
  for (const message of options.messages) ws.send(toPayload(message));
  if (options.expect === 0) ws.close(1000);
});
ws.on('message', (data, isBinary) => {
  emitMessage(data, isBinary);
  received += 1;
  if (received === options.expect) ws.close(1000);
});
ws.on('error', (error) => emit({ event: 'error', message: String(error.message) }));
ws.on('close', (code, reason) => {
  clearTimeout(timer);
  clean = code === 1000 && received >= options.expect;
  emit({ event: 'close', code, reason: reason.toString() });
  process.exitCode = clean ? 0 : 1;
});
