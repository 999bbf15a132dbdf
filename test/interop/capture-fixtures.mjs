// Captures what Node's @socket.io/redis-adapter 8.x, @socket.io/redis-emitter
// 5.x and @socket.io/redis-streams-adapter 0.3.x send to Redis for a set of
// broadcasts, requests and responses, and writes it as the golden fixtures of
// internal/realtime/redisadapter (testdata/*.json). The Go tests decode these
// bytes and check that eventide encodes the same ones.
//
//   cd test/interop && npm ci && node capture-fixtures.mjs [redis://127.0.0.1:6379]
//
// It watches Redis with MONITOR, so it sees every command exactly as the Node
// packages send it (channel, payload bytes, XADD arguments, SET ... PX), and
// keeps those whose arguments carry the fixture's key prefix. Two Node servers
// (A and B) share each adapter, so B answers A's requests. Each case records
// the commands, the decoded value (msgpack Buffers as {"$bin": base64}) and,
// for a broadcast, the Socket.IO packet Node's own encoder makes of it for
// clients (its text and binary attachments).
//
// Values that differ from run to run (server uids, request ids, socket ids,
// stream entry ids, timestamps) are recorded, not normalised: the tests read
// them from the fixture.

import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { createClient } from 'redis';
import { createAdapter as createClassic } from '@socket.io/redis-adapter';
import { createAdapter as createStreams } from '@socket.io/redis-streams-adapter';
import { Emitter } from '@socket.io/redis-emitter';

const require = createRequire(import.meta.url);
const notepack = require('notepack.io');
const { decode: msgpackDecode } = require('@msgpack/msgpack');
const { Encoder } = require('socket.io-parser');

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', '..', 'internal', 'realtime', 'redisadapter', 'testdata');
const redisURL = process.argv[2] || process.env.EVENTIDE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

// The prefixes are fixed so the fixtures change only when the formats do.
const CLASSIC_KEY = 'eventide-fixture';
const STREAM = 'eventide-fixture-stream';
const SESSION_PREFIX = 'eventide-fixture:sio:session:';

function versionOf(pkg) {
  return JSON.parse(readFileSync(join(here, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

// ---- MONITOR capture ----

/** Parses the quoted arguments of a MONITOR line into Buffers. */
export function parseMonitorLine(line) {
  const args = [];
  let i = line.indexOf('"');
  while (i >= 0 && i < line.length) {
    if (line[i] !== '"') { i++; continue; }
    i++;
    const bytes = [];
    while (i < line.length && line[i] !== '"') {
      const c = line[i];
      if (c === '\\') {
        const n = line[i + 1];
        switch (n) {
          case 'x': bytes.push(parseInt(line.slice(i + 2, i + 4), 16)); i += 4; continue;
          case 'n': bytes.push(10); break;
          case 'r': bytes.push(13); break;
          case 't': bytes.push(9); break;
          case 'a': bytes.push(7); break;
          case 'b': bytes.push(8); break;
          default: bytes.push(n.charCodeAt(0));
        }
        i += 2;
        continue;
      }
      bytes.push(c.charCodeAt(0));
      i++;
    }
    args.push(Buffer.from(bytes));
    i++;
  }
  return args;
}

const WATCHED = new Set(['PUBLISH', 'SUBSCRIBE', 'PSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'PUBSUB', 'XADD',
  'XRANGE', 'SET', 'GET', 'DEL', 'GETDEL']);

async function startMonitor(prefixes) {
  const mon = createClient({ url: redisURL });
  mon.on('error', () => {});
  await mon.connect();
  const seen = [];
  await mon.monitor((line) => {
    const args = parseMonitorLine(String(line));
    if (args.length === 0) return;
    const name = args[0].toString().toUpperCase();
    if (!WATCHED.has(name)) return;
    if (!args.some((a) => prefixes.some((p) => a.includes(p)))) return;
    seen.push(args);
  });
  return {
    seen,
    // QUIT is never answered in MONITOR mode: close the connection.
    stop() { mon.destroy(); },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, pred, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// ---- rendering ----

function isText(buf) {
  const s = buf.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(buf)) return false;
  return !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(s);
}

/** A command argument: a string when it is printable UTF-8, else {b64}. */
function renderArg(buf) {
  return isText(buf) ? buf.toString('utf8') : { b64: buf.toString('base64') };
}

/** A decoded value as JSON: Buffers and typed arrays as {"$bin": base64}. */
function renderValue(v) {
  if (v === undefined) return { $undefined: true };
  if (v === null || typeof v !== 'object') return v;
  if (Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) : v).toString('base64') };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return v.map(renderValue);
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = renderValue(x);
  return out;
}

/** What Node's socket.io-parser makes of a packet for clients. */
function clientEncoding(packet) {
  const parts = new Encoder().encode(structuredCloneWithBuffers(packet));
  return {
    text: parts[0],
    attachments: parts.slice(1).map((b) => Buffer.from(b).toString('base64')),
  };
}

function structuredCloneWithBuffers(v) {
  if (v === null || typeof v !== 'object') return v;
  if (Buffer.isBuffer(v) || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;
  if (Array.isArray(v)) return v.map(structuredCloneWithBuffers);
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = structuredCloneWithBuffers(x);
  return out;
}

function decodePayload(buf, parser) {
  if (buf[0] === 0x7b) return { json: JSON.parse(buf.toString('utf8')) };
  return { msgpack: parser(buf) };
}

/**
 * Runs action, waits until `count` watched commands matching filter have
 * been seen since it started, and returns the case.
 */
async function capture(mon, name, action, { count = 1, filter = () => true, parser = notepack.decode, settle = 0 } = {}) {
  const start = mon.seen.length;
  const result = await action();
  const mine = () => mon.seen.slice(start).filter(filter);
  await waitFor(`${name}: ${count} command(s)`, () => mine().length >= count);
  if (settle) await sleep(settle); // only to be sure nothing else followed
  const commands = mine();
  const kase = { name, commands: commands.map((args) => args.map(renderArg)) };
  kase.decoded = commands.map((args) => {
    const cmd = args[0].toString().toUpperCase();
    if (cmd === 'PUBLISH') {
      const d = decodePayload(args[2], parser);
      return d.json !== undefined ? { json: d.json } : { msgpack: renderValue(d.msgpack) };
    }
    return null;
  });
  if (result !== undefined) kase.result = renderValue(result);
  return kase;
}

/** Adds the client encoding of the broadcast packet of a classic/emitter message. */
function withClientEncoding(kase) {
  kase.socketio = kase.commands.map((cmd, i) => {
    if (cmd[0].toUpperCase() !== 'PUBLISH') return null;
    const payload = typeof cmd[2] === 'string' ? Buffer.from(cmd[2]) : Buffer.from(cmd[2].b64, 'base64');
    if (payload[0] === 0x7b) return null;
    const msg = notepack.decode(payload);
    if (Array.isArray(msg)) return clientEncoding(msg[1]);
    if (msg && msg.packet) return clientEncoding(msg.packet);
    return null;
  });
  return kase;
}

// ---- servers and clients ----

async function listen(io) {
  const http = createServer();
  io.attach(http);
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${http.address().port}`, http };
}

async function client(url, rooms) {
  const sock = connect(url, { transports: ['websocket'], reconnection: false });
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('connect_error', rej); });
  if (rooms.length) {
    await new Promise((r) => sock.emit('join', rooms, r));
  }
  return sock;
}

function serve(io) {
  io.on('connection', (s) => {
    s.on('join', (rooms, ack) => { s.join(rooms); ack?.(); });
    s.on('ask', () => {});
  });
  io.on('ping', (...args) => {
    const ack = args[args.length - 1];
    if (typeof ack === 'function') ack({ pong: true });
  });
}

async function redisClient() {
  const c = createClient({ url: redisURL });
  c.on('error', () => {});
  await c.connect();
  return c;
}

const sample = {
  providerId: '42',
  seq: 7,
  kind: 'slot.updated',
  slot: { id: 's-1', startsAt: '2025-01-02T10:00:00Z', endsAt: '2025-01-02T10:30:00Z', capacity: 3, price: 12.5, tags: ['a', 'é', '😀'], open: true, note: null },
};

// ---- classic adapter and emitter ----

async function classicAndEmitter() {
  const mon = await startMonitor([CLASSIC_KEY]);
  const pubA = await redisClient(); const subA = pubA.duplicate(); await subA.connect();
  const pubB = await redisClient(); const subB = pubB.duplicate(); await subB.connect();
  const emitterClient = await redisClient();

  const start = mon.seen.length;
  const ioA = new Server({ adapter: createClassic(pubA, subA, { key: CLASSIC_KEY }) });
  const ioB = new Server({ adapter: createClassic(pubB, subB, { key: CLASSIC_KEY }) });
  serve(ioA); serve(ioB);
  const a = await listen(ioA); const b = await listen(ioB);
  const uidA = ioA.of('/').adapter.uid; const uidB = ioB.of('/').adapter.uid;
  // 3 SUBSCRIBE/PSUBSCRIBE per server: a pattern and 3 channels.
  await waitFor('subscriptions', () => mon.seen.length - start >= 4);
  const subscribe = { name: 'subscriptions of one server', commands: mon.seen.slice(start, start + 4).map((c) => c.map(renderArg)) };

  // Ack the "ask" broadcast from B's client.
  const cA = await client(a.url, ['provider-42']);
  const cB = await client(b.url, ['provider-42', 'provider-7']);
  cB.on('ask', (...args) => { const ack = args[args.length - 1]; if (typeof ack === 'function') ack({ ok: true, got: args.length - 1 }); });
  cA.on('ask', (...args) => { const ack = args[args.length - 1]; if (typeof ack === 'function') ack('from A'); });

  const pub = (c) => c[0].toString().toUpperCase() === 'PUBLISH';
  const cases = [subscribe];
  const nspA = ioA.of('/');

  cases.push(withClientEncoding(await capture(mon, 'text to one room', () => { ioA.to('provider-42').emit('availabilityUpdated', sample); }, { filter: pub })));
  cases.push(withClientEncoding(await capture(mon, 'to every socket, scalar arguments', () => { ioA.emit('hello', 'world', 1, -1, 2.5, -300, 70000, 5000000000, -5000000000, true, false, null, [], {}); }, { filter: pub })));
  cases.push(withClientEncoding(await capture(mon, 'binary to one room', () => { ioA.to('provider-42').emit('file', Buffer.from([0, 1, 2, 255]), { name: 'x.bin', body: Buffer.from('héllo'), list: [Buffer.alloc(0), 1] }); }, { filter: pub })));
  cases.push(withClientEncoding(await capture(mon, 'several rooms with except', () => { ioA.to(['provider-42', 'provider-7']).except(['provider-9', cA.id]).emit('availabilityUpdated', { providerId: '42', seq: 8 }); }, { filter: pub })));
  cases.push(withClientEncoding(await capture(mon, 'flags volatile and compress', () => { ioA.to('provider-42').volatile.compress(false).emit('tick', 1); }, { filter: pub })));
  cases.push(withClientEncoding(await capture(mon, 'longer strings and binary (8- and 16-bit lengths)', () => { ioA.to('provider-42').emit('big', 'x'.repeat(40), 'y'.repeat(300), Buffer.alloc(300, 7)); }, { filter: pub })));
  cases.push(withClientEncoding(await capture(mon, 'a namespace other than /', () => { ioA.of('/admin').to('r').emit('ev', 'in admin'); }, { filter: pub })));

  cases.push(await capture(mon, 'serverCount', async () => nspA.adapter.serverCount(), { filter: (c) => c[0].toString().toUpperCase() === 'PUBSUB' }));
  cases.push(await capture(mon, 'fetchSockets request and response', async () => {
    const sockets = await ioA.in('provider-42').fetchSockets();
    return sockets.map((s) => ({ id: s.id, rooms: [...s.rooms] }));
  }, { count: 2, filter: pub }));
  cases.push(await capture(mon, 'allRooms request and response', async () => [...await nspA.adapter.allRooms()].sort(), { count: 2, filter: pub }));
  cases.push(await capture(mon, 'socketsJoin', () => { ioA.in('provider-42').socketsJoin(['room-x', 'room-y']); }, { filter: pub }));
  cases.push(await capture(mon, 'socketsLeave', () => { ioA.in('provider-42').except('provider-7').socketsLeave('room-x'); }, { filter: pub }));
  cases.push(await capture(mon, 'serverSideEmit without ack', () => { ioA.serverSideEmit('hello', { a: 1 }, 'two'); }, { filter: pub }));
  cases.push(await capture(mon, 'serverSideEmit with ack, request and response', async () => ioA.serverSideEmitWithAck('ping', 'p'), { count: 2, filter: pub }));
  cases.push(withClientEncoding(await capture(mon, 'broadcast with ack: request, client count, acks', async () =>
    ioA.to('provider-42').timeout(5000).emitWithAck('ask', 'q', Buffer.from([9, 8])), { count: 3, filter: pub, settle: 200 })));
  cases.push(await capture(mon, 'disconnectSockets', () => { ioA.in('room-y').disconnectSockets(false); }, { filter: pub }));

  const emitter = new Emitter(emitterClient, { key: CLASSIC_KEY });
  const emitterCases = [];
  emitterCases.push(withClientEncoding(await capture(mon, 'emitter: text to one room', () => { emitter.to('provider-42').emit('availabilityUpdated', sample); }, { filter: pub })));
  emitterCases.push(withClientEncoding(await capture(mon, 'emitter: binary to one room', () => { emitter.to('provider-42').emit('file', Buffer.from([1, 2, 3]), { body: Buffer.from('abc') }); }, { filter: pub })));
  emitterCases.push(withClientEncoding(await capture(mon, 'emitter: to every socket', () => { emitter.emit('all', 'x'); }, { filter: pub })));
  emitterCases.push(withClientEncoding(await capture(mon, 'emitter: rooms, except and flags', () => { emitter.to(['provider-42', 'provider-7']).except('provider-9').volatile.compress(true).emit('ev', 1); }, { filter: pub })));
  emitterCases.push(withClientEncoding(await capture(mon, 'emitter: namespace /admin', () => { emitter.of('/admin').emit('ev', 2); }, { filter: pub })));
  emitterCases.push(await capture(mon, 'emitter: serverSideEmit', () => { emitter.serverSideEmit('hello', 1); }, { filter: pub }));
  emitterCases.push(await capture(mon, 'emitter: socketsJoin', () => { emitter.in('provider-42').socketsJoin('room-z'); }, { filter: pub }));
  emitterCases.push(await capture(mon, 'emitter: socketsLeave', () => { emitter.in('provider-42').except('provider-7').socketsLeave(['room-z']); }, { filter: pub }));
  emitterCases.push(await capture(mon, 'emitter: disconnectSockets', () => { emitter.in('room-none').disconnectSockets(true); }, { filter: pub }));

  cA.close(); cB.close();
  await ioA.close(); await ioB.close();
  for (const c of [pubA, subA, pubB, subB, emitterClient]) await c.quit().catch(() => {});
  mon.stop();
  return {
    classic: { key: CLASSIC_KEY, servers: { A: uidA, B: uidB }, cases },
    emitter: { key: CLASSIC_KEY, cases: emitterCases },
  };
}

// ---- streams adapter ----

async function streams() {
  const mon = await startMonitor([STREAM, SESSION_PREFIX]);
  const rA = await redisClient(); const rB = await redisClient();
  const opts = { streamName: STREAM, channelPrefix: STREAM, sessionKeyPrefix: SESSION_PREFIX, maxLen: 1000 };
  const start = mon.seen.length;
  const ioA = new Server({ adapter: createStreams(rA, opts), connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true } });
  const ioB = new Server({ adapter: createStreams(rB, opts), connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true } });
  serve(ioA); serve(ioB);
  const a = await listen(ioA); const b = await listen(ioB);
  const uidA = ioA.of('/').adapter.uid; const uidB = ioB.of('/').adapter.uid;
  await waitFor('subscriptions', () => mon.seen.slice(start).filter((c) => c[0].toString().toUpperCase() === 'SUBSCRIBE').length >= 2);
  const subscribe = { name: 'subscriptions of two servers', commands: mon.seen.slice(start).filter((c) => c[0].toString().toUpperCase() === 'SUBSCRIBE').map((c) => c.map(renderArg)) };

  const cA = await client(a.url, ['provider-42']);
  const cB = await client(b.url, ['provider-42', 'provider-7']);
  cB.on('ask', (...args) => { const ack = args[args.length - 1]; if (typeof ack === 'function') ack({ ok: true }); });
  cA.on('ask', (...args) => { const ack = args[args.length - 1]; if (typeof ack === 'function') ack('from A'); });

  const cmd = (name) => (c) => c[0].toString().toUpperCase() === name;
  const xadd = cmd('XADD'); const pub = cmd('PUBLISH');
  const cases = [subscribe];
  const nspA = ioA.of('/');

  const streamCase = async (name, action) => {
    const k = await capture(mon, name, action, { filter: xadd, parser: msgpackDecode });
    // The entry as a reader gets it: its id and fields.
    const entries = await rA.xRange(STREAM, '-', '+');
    const last = entries[entries.length - 1];
    k.entry = { id: last.id, fields: last.message };
    const data = last.message.data;
    if (data && !data.startsWith('{')) k.entry.decodedData = renderValue(msgpackDecode(Buffer.from(data, 'base64')));
    if (data && data.startsWith('{')) k.entry.decodedData = JSON.parse(data);
    const packet = data ? (data.startsWith('{') ? JSON.parse(data) : msgpackDecode(Buffer.from(data, 'base64'))).packet : undefined;
    if (packet) k.socketio = clientEncoding(packet);
    return k;
  };
  cases.push(await streamCase('text to one room', () => { ioA.to('provider-42').emit('availabilityUpdated', sample); }));
  cases.push(await streamCase('binary to one room', () => { ioA.to('provider-42').emit('file', Buffer.from([0, 1, 2, 255]), { body: Buffer.from('héllo') }); }));
  cases.push(await streamCase('to every socket with except and flags', () => { ioA.except('provider-9').volatile.emit('tick', 1, 2.5, null); }));
  cases.push(await streamCase('socketsJoin', () => { ioA.in('provider-42').socketsJoin(['room-x']); }));
  cases.push(await streamCase('socketsLeave', () => { ioA.in('provider-42').socketsLeave('room-x'); }));
  cases.push(await capture(mon, 'serverCount', async () => nspA.adapter.serverCount(), { filter: cmd('PUBSUB') }));
  cases.push(await capture(mon, 'fetchSockets request and response', async () => {
    const sockets = await ioA.in('provider-42').fetchSockets();
    return sockets.map((s) => ({ id: s.id, rooms: [...s.rooms] }));
  }, { count: 2, filter: pub, parser: msgpackDecode }));
  cases.push(await capture(mon, 'serverSideEmit without ack', () => { ioA.serverSideEmit('hello', { a: 1 }); }, { filter: pub, parser: msgpackDecode }));
  cases.push(await capture(mon, 'serverSideEmit with ack, request and response', async () => ioA.serverSideEmitWithAck('ping', 'p'), { count: 2, filter: pub, parser: msgpackDecode }));
  cases.push(await capture(mon, 'broadcast with ack: request, client count, ack', async () =>
    ioA.to('provider-42').timeout(5000).emitWithAck('ask', 'q'), { count: 3, filter: pub, parser: msgpackDecode, settle: 200 }));

  // A session: B's client drops its transport; B persists the session.
  const sessionCase = await capture(mon, 'session persisted on a recoverable disconnect', () => { cB.io.engine.close(); },
    { filter: cmd('SET'), parser: msgpackDecode });
  const setArgs = sessionCase.commands[0];
  const encoded = typeof setArgs[2] === 'string' ? setArgs[2] : Buffer.from(setArgs[2].b64, 'base64').toString();
  sessionCase.session = renderValue(msgpackDecode(Buffer.from(encoded, 'base64')));
  cases.push(sessionCase);

  cA.close(); cB.close();
  await ioA.close(); await ioB.close();
  await rA.del(STREAM);
  for (const c of [rA, rB]) await c.quit().catch(() => {});
  mon.stop();
  return { streamName: STREAM, channelPrefix: STREAM, sessionKeyPrefix: SESSION_PREFIX, servers: { A: uidA, B: uidB }, cases };
}

async function main() {
  const versions = Object.fromEntries(['socket.io', 'socket.io-adapter', 'socket.io-parser', '@socket.io/redis-adapter',
    '@socket.io/redis-emitter', '@socket.io/redis-streams-adapter', 'notepack.io', '@msgpack/msgpack', 'redis']
    .map((p) => [p, versionOf(p)]));
  const generator = 'test/interop/capture-fixtures.mjs';
  const ce = await classicAndEmitter();
  const st = await streams();
  const write = (name, body) => writeFile(join(outDir, name), JSON.stringify({ generator, versions, ...body }, null, 1) + '\n');
  await write('classic.json', ce.classic);
  await write('emitter.json', ce.emitter);
  await write('streams.json', st);
  console.log(`wrote ${outDir}/{classic,emitter,streams}.json`);
  process.exit(0);
}


if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => { console.error(err); process.exit(1); });
}
