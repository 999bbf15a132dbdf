// Connection-state recovery (issue 11, ADR 0023) as socket.io-client 4.8
// sees it. A client reaches the server through a TCP proxy (lib/proxy.mjs);
// the proxy cuts its transport for 10 s while REST changes are made; when
// the proxy lets it back, the client is recovered (socket.recovered), has
// its socket id and rooms again, and gets every availabilityUpdated it
// missed, in seq order, once. On every adapter: memory, redis (classic),
// redis-streams. Also: a token that no longer allows a room does not get
// that room (or its events) back; past --recovery-window the client is not
// recovered; and, on either Redis adapter with two nodes sharing a
// PostgreSQL database, a client whose node is killed with SIGKILL recovers
// on the other node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import { startServer, freePort } from './lib/server.mjs';
import { startProxy } from './lib/proxy.mjs';
import { scratchDatabase } from './lib/postgres.mjs';
import { until, sleep, emitWithAck, waitFor } from './lib/wait.mjs';

// How long the transport stays cut: the scenario's length, not a timing
// the test asserts.
const CUT_MS = 10_000;

function portOf(url) {
  return Number(new URL(url).port);
}

async function rest(url, method, path, token, body) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// createSlot makes one change of provider id (seq + 1) on the server at url.
let day = 0;
function createSlot(url, token, providerId) {
  day++;
  const d = String(1 + (day % 28)).padStart(2, '0');
  const h = String(day % 20).padStart(2, '0');
  return rest(url, 'POST', `/api/v1/providers/${providerId}/slots`, token, {
    start: `2031-01-${d}T${h}:00:00Z`, end: `2031-01-${d}T${h}:30:00Z`,
  });
}

// watch connects a client through the proxy that joins rooms once (a
// recovered socket keeps them; a new one would not be in them), and records
// every availabilityUpdated as {providerId, seq} and every connect's
// recovered flag.
async function watch(proxy, token, rooms) {
  const socket = io(proxy.url, {
    auth: { token },
    transports: ['websocket'],
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
  });
  const events = [];
  const connects = [];
  socket.on('availabilityUpdated', (change, offset) => {
    events.push({ providerId: change.providerId, seq: change.seq, offset });
  });
  socket.on('connect', () => connects.push({ id: socket.id, recovered: socket.recovered }));
  await until(() => connects.length === 1, undefined, 'the first connect');
  for (const room of rooms) {
    const [ack] = await emitWithAck(socket, 'joinRoom', room);
    assert.equal(ack.status, 'ok', JSON.stringify(ack));
  }
  return { socket, events, connects };
}

// cutAndRestore cuts the client's transport, runs during() while it is
// cut (for CUT_MS at least), lets it back and waits for its reconnect.
async function cutAndRestore(proxy, w, during) {
  const gone = waitFor(w.socket, 'disconnect');
  proxy.cut({ refuse: true });
  const [reason] = await gone;
  assert.equal(reason, 'transport close');
  const started = Date.now();
  await during();
  const left = CUT_MS - (Date.now() - started);
  if (left > 0) await sleep(left);
  const before = w.connects.length;
  proxy.restore();
  await until(() => w.connects.length > before, undefined, 'the reconnect');
  return w.connects.at(-1);
}

function seqsOf(events, providerId) {
  return events.filter((e) => e.providerId === providerId).map((e) => e.seq);
}

// serverBehindProxy starts a server (opts for startServer) and a proxy to
// it; state.socket, when set, is closed after the test with them.
async function serverBehindProxy(t, opts) {
  const srv = await startServer({ raw: false, ...opts });
  const proxy = await startProxy(portOf(srv.url));
  const state = { srv, proxy, socket: null };
  t.after(async () => {
    state.socket?.close();
    await proxy.close();
    await srv.stop();
  });
  return state;
}

const adapters = [
  { name: 'memory', args: () => [] },
  { name: 'redis', args: () => ['--adapter', 'redis', '--redis-key', `csr-e2e-${randomBytes(4).toString('hex')}`] },
  { name: 'redis-streams', args: () => ['--adapter', 'redis-streams', '--redis-key', `csr-e2e-${randomBytes(4).toString('hex')}`] },
];

for (const adapter of adapters) {
  test(`on ${adapter.name}: a transport cut for 10 s is recovered with every missed event in order`, async (t) => {
    const st = await serverBehindProxy(t, { args: adapter.args() });
    const { srv, proxy } = st;
    const token = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });
    const w = await watch(proxy, token, ['provider-42']);
    st.socket = w.socket;
    const first = w.connects[0];
    assert.equal(first.recovered, false);

    await createSlot(srv.url, token, '42');
    await until(() => w.events.length === 1, undefined, 'the first change');
    assert.match(w.events[0].offset, /^\d+(-\d+)?$/, 'the event carries its offset last');

    const again = await cutAndRestore(proxy, w, async () => {
      for (let i = 0; i < 5; i++) await createSlot(srv.url, token, '42');
    });
    assert.equal(again.recovered, true, `not recovered:\n${srv.output().slice(-3000)}`);
    assert.equal(again.id, first.id, 'the recovered socket has its id again');
    await until(() => w.events.length >= 6, undefined, 'the missed changes');
    // One more change after the recovery: the room is still joined.
    await createSlot(srv.url, token, '42');
    await until(() => w.events.length >= 7, undefined, 'a change after the recovery');
    await sleep(200); // a duplicate would be here by now
    assert.deepEqual(seqsOf(w.events, '42'), [1, 2, 3, 4, 5, 6, 7]);
  });
}

test('a room the reconnecting token no longer allows is not restored, nor are its missed events', async (t) => {
  const st = await serverBehindProxy(t, {});
  const { srv, proxy } = st;
  const admin = await srv.token({ sub: 'admin', role: 'admin' });
  const both = await srv.token({ sub: 'c1', role: 'client', providers: ['42', '43'] });
  const only42 = await srv.token({ sub: 'c1', role: 'client', providers: ['42'] });
  const w = await watch(proxy, both, ['provider-42', 'provider-43']);
  st.socket = w.socket;
  await createSlot(srv.url, admin, '42');
  await until(() => w.events.length === 1, undefined, 'the first change');

  const again = await cutAndRestore(proxy, w, async () => {
    await createSlot(srv.url, admin, '42');
    await createSlot(srv.url, admin, '43');
    // The client reconnects with a token that no longer allows 43.
    w.socket.auth = { token: only42 };
  });
  assert.equal(again.recovered, true);
  await until(() => seqsOf(w.events, '42').length === 2, undefined, "42's missed change");
  await createSlot(srv.url, admin, '43');
  await createSlot(srv.url, admin, '42');
  await until(() => seqsOf(w.events, '42').length === 3, undefined, "42's next change");
  await sleep(200);
  assert.deepEqual(seqsOf(w.events, '42'), [1, 2, 3]);
  assert.deepEqual(seqsOf(w.events, '43'), [], 'nothing of provider-43, missed or new');
});

test('past --recovery-window the client is not recovered and gets a new session', async (t) => {
  const st = await serverBehindProxy(t, { args: ['--recovery-window', '2s'] });
  const { srv, proxy } = st;
  const token = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });
  const w = await watch(proxy, token, ['provider-42']);
  st.socket = w.socket;
  await createSlot(srv.url, token, '42');
  await until(() => w.events.length === 1, undefined, 'the first change');
  const again = await cutAndRestore(proxy, w, () => createSlot(srv.url, token, '42'));
  assert.equal(again.recovered, false);
  assert.notEqual(again.id, w.connects[0].id);
  await sleep(200);
  assert.deepEqual(seqsOf(w.events, '42'), [1], 'nothing replayed: the client catches up over REST');
});

for (const adapter of ['redis', 'redis-streams']) {
  test(`on ${adapter}, a client whose node is killed with SIGKILL recovers on another node with every event`, async (t) => {
    const db = await scratchDatabase();
    const key = `csr-e2e-${randomBytes(4).toString('hex')}`;
    const secret = randomBytes(32).toString('hex');
    const common = {
      raw: false, jwtSecret: secret, databaseUrl: db.url,
      args: ['--adapter', adapter, '--redis-key', key],
    };
    const a = await startServer(common);
    const b = await startServer(common);
    const proxy = await startProxy(portOf(a.url));
    let w;
    t.after(async () => {
      w?.socket.close();
      await proxy.close();
      await a.stop();
      await b.stop();
      await db.drop();
    });
    const token = await a.token({ sub: 'p42', role: 'provider', providerId: '42' });
    w = await watch(proxy, token, ['provider-42']);
    await createSlot(a.url, token, '42');
    await until(() => w.events.length === 1, undefined, 'the first change');

    const gone = waitFor(w.socket, 'disconnect');
    proxy.retarget(portOf(b.url));
    await a.kill('SIGKILL');
    await gone;
    for (let i = 0; i < 4; i++) await createSlot(b.url, token, '42');
    await until(() => w.connects.length === 2, undefined, 'the reconnect to B');
    const again = w.connects[1];
    assert.equal(again.recovered, true, `not recovered on B:\n${b.output().slice(-3000)}`);
    assert.equal(again.id, w.connects[0].id);
    await until(() => w.events.length >= 5, undefined, 'the changes made meanwhile');
    await createSlot(b.url, token, '42');
    await until(() => w.events.length >= 6, undefined, 'a change after the recovery');
    await sleep(200);
    assert.deepEqual(seqsOf(w.events, '42'), [1, 2, 3, 4, 5, 6]);
  });
}
