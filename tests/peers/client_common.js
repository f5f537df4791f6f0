// Shared argument parsing and output for ws_client.js and faye_client.js.
// Usage: node CLIENT.js URL [--expect=N] [--timeout-ms=M] [--protocol=P] [messages...]
// A message "hex:0aff" is sent as binary; without messages a default set is sent. Every line printed
// is one JSON object: {event:"open", extensions, protocol}, {event:"message", data | hex, binary},
// {event:"error", message}, {event:"close", code, reason}, {event:"timeout"}.
'use strict';

const DEFAULT_MESSAGES = ['hello', 'h\u00e9llo \u2603 \ud83d\ude00', 'hex:00010280ff', 'x'.repeat(70000)];

function parseArgs(argv) {
  const options = { url: argv[2], expect: null, timeoutMs: 5000, protocols: [], messages: [] };
  for (const arg of argv.slice(3)) {
    if (arg.startsWith('--expect=')) options.expect = parseInt(arg.slice(9), 10);
    else if (arg.startsWith('--timeout-ms=')) options.timeoutMs = parseInt(arg.slice(13), 10);
    else if (arg.startsWith('--protocol=')) options.protocols.push(arg.slice(11));
    else options.messages.push(arg);
  }
  if (options.messages.length === 0) options.messages = DEFAULT_MESSAGES;
  if (options.expect === null) options.expect = options.messages.length;
  return options;
}

function toPayload(message) {
  return message.startsWith('hex:') ? Buffer.from(message.slice(4), 'hex') : message;
}

function emit(object) { console.log(JSON.stringify(object)); }

function emitMessage(data, isBinary) {
  if (isBinary) emit({ event: 'message', binary: true, hex: Buffer.from(data).toString('hex') });
  else emit({ event: 'message', binary: false, data: data.toString() });
}

module.exports = { parseArgs, toPayload, emit, emitMessage };
