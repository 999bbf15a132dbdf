// Graceful drain (issue 12, ADR 0026) as socket.io-client 4.8 sees it. Two
// nodes share a PostgreSQL database (a fresh one) and Redis (a key of the
// test's own), on the streams adapter and on the classic one; the clients
// reach node A through a TCP proxy (the load balancer, lib/proxy.mjs). REST
// changes of provider 42 flow to B all along, and a REST request is in
// flight on A when A gets SIGTERM. A's /readyz turns 503, the proxy sends
// new connections to B, A finishes the request, closes its clients'
// transports (a transport close, never "io server disconnect": they
// reconnect) and exits 0. The clients, over WebSocket and over long-polling,
// reconnect through the proxy to B, are recovered there (socket.recovered),
// and have every change exactly once, in seq order: none missed across the
// drain. A socket.io-client 2.x client reconnects too (it cannot recover).
// And a second SIGTERM during a drain exits at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { io } from 'socket.io-client';
import io2 from 'socket.io-client-v2';
import { startServer } from './lib/server.mjs';
import { startProxy } from './lib/proxy.mjs';
import { scratchDatabase } from './lib/postgres.mjs';
import { until, sleep, emitWithAck, GUARD_MS } from './lib/wait.mjs';

// What a node logs when it takes the relay lock.
const RELAYING = 'relay lock taken';

function portOf(url) {
  return Number(new URL(url).port);
}

// createSlot makes one change of provider 42 (its seq + 1) on the node at url.
let day = 0;
async function createSlot(url, token) {
  day++;
  const d = String(1 + (day % 28)).padStart(2, '0');
  const m = String(1 + Math.floor(day / 28) % 12).padStart(2, '0');
  const h = String(day % 20).padStart(2, '0');
  const res = await fetch(`${url}/api/v1/providers/42/slots`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ start: `2031-${m}-${d}T${h}:00:00Z`, end: `2031-${m}-${d}T${h}:30:00Z` }),
  });
  const text = await res.text();
  assert.equal(res.status, 201, `POST on ${url}: ${res.status} ${text}`);
}

// watch connects a client through the proxy on one transport, joins
// provider-42 once (a recovered socket keeps its rooms), and records every
// availabilityUpdated seq, every connect's recovered flag and every
// disconnect's reason.
async function watch(proxy, token, transport) {
  const socket = io(proxy.url, {
    auth: { token },
    transports: [transport],
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
  });
  const w = { transport, socket, seqs: [], connects: [], disconnects: [] };
  socket.on('availabilityUpdated', (change) => w.seqs.push(change.seq));
  socket.on('connect', () => w.connects.push({ id: socket.id, recovered: socket.recovered }));
  socket.on('disconnect', (reason) => w.disconnects.push(reason));
  await until(() => w.connects.length === 1, undefined, `the ${transport} client's first connect`);
  const [ack] = await emitWithAck(socket, 'joinRoom', 'provider-42');
  assert.equal(ack.status, 'ok', JSON.stringify(ack));
  return w;
}

// heldRequest sends a slot POST to url with "Expect: 100-continue" and
// resolves once the server asked for the body: the request is in flight
// until finish() sends it; finish resolves with the response's status.
async function heldRequest(url, token) {
  const body = JSON.stringify({ start: '2032-01-01T09:00:00Z', end: '2032-01-01T09:30:00Z' });
  const sock = connect(portOf(url), '127.0.0.1');
  let got = '';
  const waiters = new Set();
  const check = () => { for (const w of waiters) w(); };
  sock.on('data', (b) => { got += b.toString(); check(); });
  sock.on('close', () => { got += '\n<closed>'; check(); });
  sock.on('error', () => {});
  const waitText = (re, what) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${GUARD_MS} ms: ${JSON.stringify(got)}`)), GUARD_MS);
    const w = () => {
      const m = got.match(re);
      if (!m) return;
      waiters.delete(w);
      clearTimeout(timer);
      resolve(m);
    };
    waiters.add(w);
    w();
  });
  sock.write(`POST /api/v1/providers/42/slots HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n`
    + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`);
  await waitText(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '100 Continue');
  return {
    async finish() {
      sock.write(body);
      const [, status] = await waitText(/HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 (\d{3}) /, 'answer');
      sock.destroy();
      return Number(status);
    },
  };
}

for (const adapter of ['redis-streams', 'redis']) {
  test(`on ${adapter}: SIGTERM on a node: its clients reconnect to the other node, are recovered and miss no event`,
    (t) => drainScenario(t, adapter));
}

async function drainScenario(t, adapter) {
  const db = await scratchDatabase();
  const key = `drain-e2e-${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(32).toString('hex');
  const common = { raw: false, jwtSecret: secret, databaseUrl: db.url };
  const redis = ['--adapter', adapter, '--redis-key', key];
  // A first, and relaying: the drain must hand the relay on to B.
  const a = await startServer({ ...common, args: [...redis, '--drain-delay', '1s'] });
  await a.waitOutput(RELAYING);
  const b = await startServer({ ...common, args: redis });
  const proxy = await startProxy(portOf(a.url));
  const clients = [];
  let writing = false;
  let writer = Promise.resolve();
  t.after(async () => {
    writing = false;
    await writer.catch(() => {});
    for (const w of clients) w.socket.close();
    await proxy.close();
    await a.stop();
    await b.stop();
    await db.drop();
  });

  const token = await a.token({ sub: 'p42', role: 'provider', providerId: '42' });
  clients.push(await watch(proxy, token, 'websocket'), await watch(proxy, token, 'polling'));
  // A socket.io-client 2.x client cannot recover (Engine.IO v3 has no
  // session id to present): it must reconnect all the same.
  const old = { socket: io2(proxy.url, { query: { token }, transports: ['websocket'], forceNew: true,
    reconnectionDelay: 200, reconnectionDelayMax: 1000 }), connects: 0, disconnects: [] };
  old.socket.on('connect', () => old.connects++);
  old.socket.on('disconnect', (reason) => old.disconnects.push(reason));
  t.after(() => old.socket.close());
  await until(() => old.connects === 1, undefined, 'the 2.x client to connect');
  for (const w of clients) assert.equal(w.connects[0].recovered, false);
  let made = 0;
  await createSlot(b.url, token);
  made++;
  for (const w of clients) await until(() => w.seqs.length === 1, undefined, 'the first change');

  // Changes flow to B, one after the other, until the end of the test.
  writing = true;
  writer = (async () => {
    while (writing) {
      await createSlot(b.url, token);
      made++;
      await sleep(20);
    }
  })();
  await until(() => clients.every((w) => w.seqs.length >= 3), undefined, 'changes flowing');

  const held = await heldRequest(a.url, token);
  const begin = Date.now();
  await a.kill('SIGTERM');
  // The load balancer: A's readiness fails, new connections go to B.
  await until(async () => {
    try {
      const res = await fetch(`${a.url}/readyz`);
      await res.text();
      return res.status === 503;
    } catch {
      return true; // A stopped listening already (a loaded machine)
    }
  }, undefined, "A's /readyz to fail");
  proxy.retarget(portOf(b.url));

  await a.waitOutput('drain: not accepting');
  assert.equal(await held.finish(), 201, `A's in-flight request:\n${a.output().slice(-3000)}`);
  made++;

  for (const w of clients) {
    await until(() => w.connects.length === 2, undefined, `the reconnect to B (disconnects: ${w.disconnects})`);
    // Never "io server disconnect", after which socket.io-client does not
    // reconnect. A WebSocket sees A close it (1001); a long-polling client
    // sees the close packet, or, when its next poll already went to B
    // through the load balancer, that B does not know the session: a
    // transport error, from which it reconnects as well.
    const allowed = w.transport === 'websocket' ? ['transport close'] : ['transport close', 'transport error'];
    assert.ok(allowed.includes(w.disconnects[0]), `the ${w.transport} client: ${w.disconnects[0]}`);
    assert.equal(w.connects[1].recovered, true, `not recovered on B:\n${b.output().slice(-3000)}`);
    assert.equal(w.connects[1].id, w.connects[0].id, 'the recovered socket keeps its id');
  }
  await until(() => old.connects === 2, undefined, `the 2.x client's reconnect (disconnects: ${old.disconnects})`);
  assert.equal(old.disconnects[0], 'transport close');
  await until(() => a.exitStatus() !== null, undefined, 'A to exit');
  const tookMs = Date.now() - begin;
  assert.equal(a.exitStatus().code, 0, a.output().slice(-3000));
  assert.match(b.output(), new RegExp(RELAYING), 'B took the relay lock');

  writing = false;
  await writer;
  await createSlot(b.url, token); // after the drain: the rooms are still joined
  made++;
  const all = Array.from({ length: made }, (_, i) => i + 1);
  for (const w of clients) {
    await until(() => w.seqs.length >= made, undefined, `all ${made} changes (got ${w.seqs.length})`);
  }
  await sleep(200); // a duplicate would be here by now
  for (const w of clients) assert.deepEqual(w.seqs, all);

  const out = a.output();
  for (const line of ['drain: not ready', 'drain: relay stopped; another node', 'drain: not accepting',
    'drain: in-flight requests finished', 'drain: sockets closed', 'drain: done']) {
    assert.ok(out.includes(line), `no "${line}" in A's log:\n${out.slice(-3000)}`);
  }
  const summary = out.split('\n').find((l) => l.includes('drain: done'));
  // How long no node relayed: from A letting go to B taking the lock.
  const at = (text, line) => Date.parse(text.split('\n').find((l) => l.includes(line))?.match(/time=(\S+)/)?.[1]);
  const handOff = at(b.output(), RELAYING) - at(out, 'drain: relay stopped');
  t.diagnostic(`${made} changes, none missed; disconnects: ${clients.map((w) => `${w.transport} ${w.disconnects[0]}`).join(", ")}; A: SIGTERM to exit ${tookMs} ms; relay hand-off ${handOff} ms; ${summary}`);
}

test('a second SIGTERM during the drain exits at once, with status 1', async (t) => {
  // The drain would wait a minute for load balancers; the operator does not.
  const srv = await startServer({ raw: false, args: ['--drain-delay', '60s', '--shutdown-timeout', '90s'] });
  t.after(() => srv.stop());
  await srv.kill('SIGTERM');
  await srv.waitOutput('drain: not ready');
  await srv.kill('SIGTERM');
  await until(() => srv.exitStatus() !== null, undefined, 'the exit after the second signal');
  assert.equal(srv.exitStatus().code, 1, srv.output().slice(-2000));
  assert.match(srv.output(), /terminated again during the shutdown: exiting now, without finishing the drain/);
  assert.doesNotMatch(srv.output(), /drain: done/);
});
