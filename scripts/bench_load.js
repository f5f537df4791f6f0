// The fixed load generator of scripts/bench_hotpath.py: raw sockets, frames masked once ahead of
// time, no WebSocket library, so every server under test is driven at the same (small) cost.
//
//   node bench_load.js ws   PORT '{"mode": "rt", ...}'   WebSocket load (modes below)
//   node bench_load.js sse  PORT '{"readers": R, "path": "/"}'   EventSource readers
//   node bench_load.js faye-sse PORT   a node faye-websocket EventSource server (the peer)
//
// ws/sse: connects, prints "ready", waits for one line on stdin ("go"), runs, prints one JSON line
// {"messages": N, "seconds": S} and exits. Every run is bounded by DEADLINE_MS.
// ws modes: rt (round trips, `connections` at once, `count` each), pipe (batches of `batch` frames,
// `count` batches), large (`count` echoes of `size` bytes), connect (`count` sequential
// connect + handshake + close), deflate (rt with permessage-deflate, client_no_context_takeover).
'use strict';
const net = require('net');
const crypto = require('crypto');
const http = require('http');
const zlib = require('zlib');

const DEADLINE_MS = 120000;
const CONNECT_PARALLEL = 50; // handshakes in flight at once (listen backlogs are small)

function frame(payload, opcode, rsv1) {
  const n = payload.length;
  let head;
  if (n < 126) head = Buffer.from([0x80 | (rsv1 ? 0x40 : 0) | opcode, 0x80 | n]);
  else if (n < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode; head[1] = 0xfe; head.writeUInt16BE(n, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode; head[1] = 0xff; head.writeBigUInt64BE(BigInt(n), 2); }
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, key, body]);
}

// Counts complete server frames in a byte stream; calls onFrame(opcode) for each.
class FrameCounter {
  constructor(onFrame) { this.onFrame = onFrame; this.buf = null; this.skip = 0; }
  feed(chunk) {
    let buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, buf.length - pos);
        this.skip -= take; pos += take;
        if (this.skip > 0) break;
        this.onFrame(this.pendingOpcode);
        continue;
      }
      if (buf.length - pos < 2) break;
      const opcode = buf[pos] & 0x0f; let len = buf[pos + 1] & 0x7f; let hl = 2;
      if (len === 126) { if (buf.length - pos < 4) break; len = buf.readUInt16BE(pos + 2); hl = 4; }
      else if (len === 127) { if (buf.length - pos < 10) break; len = Number(buf.readBigUInt64BE(pos + 2)); hl = 10; }
      pos += hl;
      this.pendingOpcode = opcode; this.skip = len;
      if (len === 0) this.onFrame(opcode);
    }
    this.buf = pos < buf.length ? buf.subarray(pos) : null;
  }
}

function handshake(port, path, extension) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    let head = Buffer.alloc(0);
    const key = crypto.randomBytes(16).toString('base64');
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (extension ? `Sec-WebSocket-Extensions: ${extension}\r\n` : '') + '\r\n'));
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.removeListener('data', onData);
      const text = head.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101/.test(text)) return reject(new Error(text.split('\r\n')[0]));
      if (extension && !/permessage-deflate/i.test(text)) return reject(new Error('deflate refused'));
      resolve({ sock, rest: head.subarray(end + 4) });
    };
    sock.on('data', onData);
    sock.on('error', reject);
  });
}

async function connectAll(count, open) {
  const out = new Array(count);
  let next = 0;
  async function worker() { while (next < count) { const i = next++; out[i] = await open(i); } }
  await Promise.all(Array.from({ length: Math.min(CONNECT_PARALLEL, count) }, worker));
  return out;
}

function waitGo() {
  return new Promise((resolve) => {
    process.stdout.write('ready\n');
    process.stdin.once('data', () => resolve());
  });
}

function done(messages, started) {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(JSON.stringify({ messages, seconds }) + '\n');
  process.exit(0);
}

function echoLoop(conns, outgoing, perConn, batch) {
  // Each connection sends `batch` frames, waits for as many echoes, `perConn` times.
  return new Promise((resolve) => {
    let pending = conns.length; let total = 0;
    for (const { sock, rest } of conns) {
      let left = perConn; let waiting = batch;
      const counter = new FrameCounter(() => {
        total += 1; waiting -= 1;
        if (waiting > 0) return;
        left -= 1;
        if (left === 0) { pending -= 1; if (pending === 0) resolve(total); return; }
        waiting = batch; sock.write(outgoing);
      });
      sock.on('data', (chunk) => counter.feed(chunk));
      if (rest.length) counter.feed(rest);
      sock.write(outgoing);
    }
  });
}

async function runWs(port, options) {
  const path = options.path || '/';
  const mode = options.mode;
  const size = options.size || 16;
  const payload = Buffer.alloc(size, options.text === false ? 0xfe : 0x78);
  const extension = mode === 'deflate' ? 'permessage-deflate; client_no_context_takeover' : null;
  if (mode === 'connect') {
    await waitGo();
    const started = process.hrtime.bigint();
    const closeFrame = frame(Buffer.from([0x03, 0xe8]), 0x8);
    for (let i = 0; i < options.count; i++) {
      const { sock } = await handshake(port, path, null);
      await new Promise((resolve) => {
        sock.on('close', resolve);
        sock.on('error', resolve);
        sock.on('data', () => {});
        sock.write(closeFrame);
        sock.end();
      });
    }
    return done(options.count, started);
  }
  let outgoing; let batch = 1; let perConn = options.count; let connections = options.connections || 1;
  if (mode === 'deflate') {
    // One message compressed alone (client_no_context_takeover), RFC 7692 7.2.1: ends 00 00 ff ff.
    const raw = zlib.deflateRawSync(Buffer.from(options.json), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    outgoing = frame(raw.subarray(0, raw.length - 4), 0x1, true);
  } else if (mode === 'pipe') {
    batch = options.batch;
    const one = frame(payload, 0x1);
    outgoing = Buffer.concat(Array.from({ length: batch }, () => one));
  } else {
    outgoing = frame(payload, options.text === false ? 0x2 : 0x1);
  }
  if (mode === 'large') connections = 1;
  const conns = await connectAll(connections, () => handshake(port, path, extension));
  await waitGo();
  const started = process.hrtime.bigint();
  const total = await echoLoop(conns, outgoing, perConn, batch);
  done(total, started);
}

async function runSse(port, options) {
  await waitGo();
  const started = process.hrtime.bigint();
  const readers = options.readers;
  let ended = 0; let events = 0;
  await new Promise((resolve) => {
    let next = 0;
    const open = () => {
      if (next >= readers) return;
      next += 1;
      const sock = net.connect(port, '127.0.0.1');
      let tail = '';
      sock.on('connect', () => sock.write(`GET ${options.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        'Accept: text/event-stream\r\n\r\n'));
      sock.on('data', (chunk) => {
        const text = tail + chunk.toString('latin1');
        let at = text.indexOf('data: ');
        while (at >= 0) { events += 1; at = text.indexOf('data: ', at + 6); }
        tail = text.slice(-5);
      });
      const finish = () => { ended += 1; open(); if (ended === readers) resolve(); };
      sock.on('close', finish);
      sock.on('error', () => {});
    };
    for (let i = 0; i < Math.min(readers, CONNECT_PARALLEL * 2); i++) open();
  });
  done(events, started);
}

function fayeSse(port) {
  const WebSocket = require(require('path').join(__dirname, '..', 'tests', 'peers', 'node_modules', 'faye-websocket'));
  const server = http.createServer((request, response) => {
    const n = parseInt(new URL(request.url, 'http://x').searchParams.get('n') || '1000', 10);
    const message = new URL(request.url, 'http://x').searchParams.get('m') || 'x';
    const es = new WebSocket.EventSource(request, response, { ping: 60 });
    let sent = 0;
    const pump = () => {
      while (sent < n && es.readyState !== 3) {
        sent += 1;
        if (!es.send(message)) { es.once('drain', pump); return; }
      }
      if (sent >= n) es.close();
    };
    setImmediate(pump);
  });
  server.listen(port, '127.0.0.1', () => console.log('listening ' + server.address().port));
  process.on('SIGTERM', () => process.exit(0));
}

const [kind, portText, optionsText] = process.argv.slice(2);
const port = parseInt(portText, 10);
const bounded = () => setTimeout(() => { process.stderr.write('deadline\n'); process.exit(2); }, DEADLINE_MS).unref();
if (kind === 'ws') bounded(), runWs(port, JSON.parse(optionsText)).catch((e) => { console.error(e); process.exit(1); });
else if (kind === 'sse') bounded(), runSse(port, JSON.parse(optionsText)).catch((e) => { console.error(e); process.exit(1); });
else if (kind === 'faye-sse') fayeSse(port);
else { console.error('usage: bench_load.js ws|sse|faye-sse PORT [OPTIONS]'); process.exit(2); }
