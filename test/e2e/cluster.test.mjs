// Three eventide nodes on one Redis and one PostgreSQL database (issue 11,
// ADR 0027), on --adapter redis and on --adapter redis-streams: clients of
// every kind (socket.io-client 4.8 over WebSocket and over polling only,
// 2.x over polling with upgrade and over WebSocket) spread over the nodes,
// each talking to one node; REST changes of several providers sent to
// random nodes at once. Every client must get every change of its rooms
// exactly once, in seq order. Then the faults: the nodes' Redis (a
// redis-server of the test's own) killed and started again while changes go
// on; and a polling client sent to a node that does not know its session
// (no sticky sessions), which must reconnect cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { scratchDatabase } from './lib/postgres.mjs';
import {
  sharedRedisURL, testKey, startRedis, startNodes, readyz, clientKinds, watcher, rest, oneTo, pick,
} from './lib/cluster.mjs';
import { until } from './lib/wait.mjs';

const adapters = ['redis', 'redis-streams'];
const providers = ['201', '202', '203'];

async function cleanup(cleanups) {
  for (const fn of cleanups.reverse()) {
    try { await fn(); } catch { /* already gone */ }
  }
}

// Every kind of client on every node, each in the rooms of two of the three
// providers (a different two per client), so that a client getting a
// change of a room it is not in shows too.
async function spreadWatchers(nodes, cleanups) {
  const watchers = [];
  for (const [i, srv] of nodes.entries()) {
    for (const [k, kind] of clientKinds.entries()) {
      const mine = providers.filter((_, j) => j !== (i + k) % providers.length);
      const token = await srv.token({ sub: `w-${srv.name}-${kind.name}`, role: 'client', providers: mine });
      watchers.push(await watcher(srv, kind, token, mine, cleanups));
    }
  }
  return watchers;
}

// The provider tokens and a first slot of each provider (seq 1), created on
// a random node.
async function seedProviders(nodes) {
  const out = {};
  for (const p of providers) {
    const token = await nodes[0].token({ sub: `p${p}`, role: 'provider', providerId: p });
    const res = await rest(pick(nodes), token, 'POST', `/api/v1/providers/${p}/slots`,
      { start: '2030-01-01T09:00:00Z', end: '2030-01-01T10:00:00Z', note: 'first' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    out[p] = { token, slots: [res.body.id], committed: 1, days: 0, tags: 0 };
  }
  return out;
}

// One change of provider p on a random node: a PATCH of one of its slots
// with a note of its own (so that it changes something), or now and then
// a new slot. Counts it as committed when the node says so.
async function change(nodes, seeded, p, what) {
  const st = seeded[p];
  // A note never used before: a PATCH to a note the slot has already
  // changes nothing, and makes no event.
  const tag = `${what} (#${++st.tags})`;
  const srv = pick(nodes);
  const day = st.days++; // a day of its own: slots never overlap
  const at = (h) => new Date(Date.UTC(2030, 1, 1 + day, h)).toISOString();
  const res = Math.random() < 0.2
    ? await rest(srv, st.token, 'POST', `/api/v1/providers/${p}/slots`, { start: at(9), end: at(10), note: tag })
    : await rest(srv, st.token, 'PATCH', `/api/v1/providers/${p}/slots/${pick(st.slots)}`, { note: tag });
  assert.ok(res.status === 200 || res.status === 201, `${srv.name} ${p}: ${res.status} ${JSON.stringify(res.body)}`);
  if (res.status === 201) st.slots.push(res.body.id);
  st.committed++;
}

// The provider's seq as the database has it (through any node).
async function seqOf(srv, seeded, p) {
  const res = await rest(srv, seeded[p].token, 'GET', `/api/v1/providers/${p}/events?after=0&limit=1`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.seq;
}

// Waits until every watcher has every committed change of its rooms, then
// asserts the full list: 1..seq, once each, in order, and nothing of a
// room it is not in.
async function assertAllDelivered(nodes, seeded, watchers) {
  const seqs = {};
  for (const p of providers) {
    seqs[p] = await seqOf(nodes[0], seeded, p);
    assert.equal(seqs[p], seeded[p].committed, `provider ${p}: the seq vs the changes answered`);
  }
  for (const w of watchers) {
    for (const p of w.providers) {
      const n = seqs[p];
      await until(() => w.got[p].length >= n, 60_000,
        `${w.kind.name} on ${w.node} to get ${n} changes of provider ${p} (got ${w.got[p]})`).catch((err) => {
        throw new Error(`${err.message}\n${nodes.map((s) => `--- ${s.name} ---\n${s.output().slice(-4000)}`).join('\n')}`);
      });
      assert.deepEqual(w.got[p], oneTo(n), `${w.kind.name} on ${w.node}, provider ${p}`);
    }
    assert.deepEqual(w.strays, [], `${w.kind.name} on ${w.node} got changes of rooms it is not in`);
  }
}

for (const adapter of adapters) {
  test(`three nodes on --adapter ${adapter}: every client, on any node, gets every change of its rooms once, in seq order`, async () => {
    const cleanups = [];
    try {
      const db = await scratchDatabase();
      cleanups.push(() => db.drop());
      const nodes = await startNodes(3, { adapter, redisUrl: sharedRedisURL, key: testKey(adapter), databaseUrl: db.url }, cleanups);
      const watchers = await spreadWatchers(nodes, cleanups);
      const seeded = await seedProviders(nodes);

      // Four lanes per provider, all providers at once, each change to a
      // random node: the same provider's changes reach different nodes
      // concurrently.
      const lanes = 4;
      const perLane = 8;
      const started = Date.now();
      await Promise.all(providers.flatMap((p) => Array.from({ length: lanes }, async (_, lane) => {
        for (let i = 0; i < perLane; i++) await change(nodes, seeded, p, `lane ${lane} change ${i}`);
      })));
      await assertAllDelivered(nodes, seeded, watchers);
      const took = Date.now() - started;

      // One more change per provider: nothing arrives after the full list
      // but that change (no late repeat).
      for (const p of providers) await change(nodes, seeded, p, 'last');
      await assertAllDelivered(nodes, seeded, watchers);

      const deliveries = watchers.reduce((n, w) => n + w.providers.reduce((m, p) => m + w.got[p].length, 0), 0);
      const changes = providers.reduce((n, p) => n + seeded[p].committed, 0);
      console.log(`# ${adapter}: ${changes} changes of ${providers.length} providers through 3 nodes, ` +
        `${watchers.length} clients, ${deliveries} deliveries, all in order in ${took} ms (reported, not asserted)`);
    } finally {
      await cleanup(cleanups);
    }
  });
}

// Log lines of the redis component (docs/operations.md, "What gets logged").
// Counted as the message of a log line: "redis unreachable" is also in the
// err of other lines (/readyz's "not ready", the relay's failed publishes).
const LOST = 'msg="redis unreachable';
const BACK = 'msg="redis reachable again"';
const count = (text, what) => text.split(what).length - 1;

for (const adapter of adapters) {
  test(`--adapter ${adapter}, Redis killed and started again while changes go on: every client gets every committed change once, in order`, async () => {
    const cleanups = [];
    try {
      const redis = await startRedis(cleanups);
      const db = await scratchDatabase();
      cleanups.push(() => db.drop());
      const nodes = await startNodes(3, { adapter, redisUrl: redis.url, key: testKey(`restart-${adapter}`), databaseUrl: db.url }, cleanups);
      const watchers = await spreadWatchers(nodes, cleanups);
      const seeded = await seedProviders(nodes);

      // Changes go on, one provider after another, each to a random node,
      // until the test says stop; a pause between rounds keeps them under
      // the REST write rate whatever the phase lasts.
      const writing = () => {
        let stop = false;
        const done = (async () => {
          for (let i = 0; !stop; i++) {
            for (const p of providers) await change(nodes, seeded, p, `change ${i}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        })();
        return async () => { stop = true; await done; };
      };
      const committed = () => providers.reduce((n, p) => n + seeded[p].committed, 0);
      const delivered = () => watchers.reduce((n, w) => n + w.providers.reduce((m, p) => m + w.got[p].length, 0), 0);
      const atLeast = async (n, what) => until(() => committed() >= n, 60_000, what);
      const complete = () => watchers.every((w) => w.providers.every((p) => w.got[p].length >= seeded[p].committed));

      let stopWriting = writing();
      await atLeast(committed() + 15, 'changes before the fault');
      await redis.kill();
      const killedAt = Date.now();
      for (const srv of nodes) {
        await until(async () => (await readyz(srv)) === 503, 60_000, `${srv.name} /readyz 503 while Redis is down`);
      }
      // Changes committed while Redis is down wait in the event log. The
      // last of them are followed by nothing: no later change shows a node
      // what it missed.
      await atLeast(committed() + 15, 'changes while Redis is down');
      await stopWriting();
      const deliveredBefore = delivered();
      const outage = Date.now() - killedAt;
      await redis.start();
      const startedAt = Date.now();
      const outageCommitted = committed();
      let resumedAt = null;
      until(() => delivered() > deliveredBefore, 120_000, 'a delivery after the restart')
        .then(() => { resumedAt = Date.now(); }, () => {});
      for (const srv of nodes) {
        await until(async () => (await readyz(srv)) === 200, 60_000, `${srv.name} /readyz 200 once Redis is back`);
      }
      const readyAt = Date.now();
      let everyoneAt = null;
      until(complete, 60_000, 'every client to catch up').then(() => { everyoneAt = Date.now(); }, () => {});
      await assertAllDelivered(nodes, seeded, watchers);

      // And changes go on after it.
      stopWriting = writing();
      await atLeast(committed() + 15, 'changes after Redis is back');
      await stopWriting();
      await assertAllDelivered(nodes, seeded, watchers);

      // One log line each way per node, not one per event.
      for (const srv of nodes) {
        const out = srv.output();
        assert.equal(count(out, LOST), 1, `${srv.name} logs "${LOST}" once:\n${out.slice(-6000)}`);
        assert.equal(count(out, BACK), 1, `${srv.name} logs "${BACK}" once:\n${out.slice(-6000)}`);
      }
      console.log(`# ${adapter}: Redis down ${outage} ms, ${outageCommitted} changes committed by the restart, ` +
        `${committed()} in all; after the restart: first delivery ${resumedAt === null ? 'n/a' : resumedAt - startedAt} ms, ` +
        `every node ready ${readyAt - startedAt} ms, every client had every change committed by then ` +
        `${everyoneAt === null ? 'n/a' : everyoneAt - startedAt} ms (reported, not asserted); gaps filled from the event log: ` +
        `${nodes.reduce((n, srv) => n + count(srv.output(), 'msg="filled missed changes'), 0)}`);
    } finally {
      await cleanup(cleanups);
    }
  });
}

// switchingProxy forwards every HTTP request to the node it is pointed at
// (no stickiness at all: the next request goes wherever it points now) and
// records the answers' statuses. WebSocket upgrades are not forwarded: the
// clients behind it poll.
async function switchingProxy(target, cleanups) {
  const px = { target, answers: [] };
  const srv = createServer((req, res) => {
    const to = new URL(req.url, px.target.url);
    const fwd = request(to, { method: req.method, headers: req.headers, agent: false }, (up) => {
      px.answers.push({ node: px.target.name, method: req.method, status: up.statusCode });
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }));
  px.url = `http://127.0.0.1:${srv.address().port}`;
  px.name = 'proxy';
  return px;
}

test('a polling client whose requests reach a node that does not know its sid (no sticky sessions) reconnects cleanly, recovered on 4.x', async () => {
  const cleanups = [];
  try {
    const db = await scratchDatabase();
    cleanups.push(() => db.drop());
    // A short ping interval: the long-poll held by the first node returns
    // soon, and the next request goes to the other.
    const [a, b] = await startNodes(2, {
      adapter: 'redis', redisUrl: sharedRedisURL, key: testKey('nosticky'), databaseUrl: db.url,
      args: ['--ping-interval', '1s'],
    }, cleanups);
    const seeded = await seedProviders([a]);
    const px = await switchingProxy(a, cleanups);
    const polling = clientKinds.filter((k) => k.transports.length === 1 && k.transports[0] === 'polling')
      .concat([{ name: 'v2-polling', version: 2, transports: ['polling'] }]);
    const ws = [];
    for (const kind of polling) {
      const token = await a.token({ sub: `w-${kind.name}`, role: 'client', providers });
      const w = await watcher(px, kind, token, providers, cleanups, { reconnection: true });
      w.reasons = [];
      w.errors = [];
      w.socket.on('disconnect', (reason) => w.reasons.push(reason));
      w.socket.on('connect_error', (err) => w.errors.push(String(err?.message ?? err)));
      w.firstSid = w.socket.id;
      ws.push(w);
    }
    await change([a], seeded, '201', 'on a');
    // Every client has that change before the proxy switches: a 2.x client
    // cannot be recovered, so one still polling for it on node b would
    // never get it (its app catches up over REST instead).
    for (const w of ws) {
      await until(() => w.got['201'].includes(2), 60_000, `${w.kind.name} to get the change made on a`);
    }

    px.target = b;
    for (const w of ws) {
      await until(() => w.connects >= 2, 60_000, `${w.kind.name} to connect again`);
      await w.joined;
    }
    const unknown = px.answers.filter((x) => x.node === b.name && x.status === 400);
    assert.ok(unknown.length >= ws.length, `node b answered 400 to the old sessions: ${JSON.stringify(px.answers.slice(-10))}`);
    await change([b], seeded, '201', 'on b');
    for (const w of ws) {
      await until(() => w.got['201'].includes(3), 60_000, `${w.kind.name} to get the change made after it reconnected`);
      assert.deepEqual(w.got['201'], [2, 3], `${w.kind.name}: the changes of provider 201`);
      assert.equal(w.reasons.length, 1, `${w.kind.name}: one disconnect (${w.reasons})`);
      assert.match(w.reasons[0], /transport error/, `${w.kind.name}: disconnect reason`);
      assert.deepEqual(w.errors, [], `${w.kind.name}: no connect_error`);
      if (w.kind.version === 4) {
        // Connection-state recovery (ADR 0023): node b finds the session
        // node a kept in Redis, so the client comes back as itself.
        assert.equal(w.socket.recovered, true, `${w.kind.name}: recovered on node b`);
        assert.equal(w.socket.id, w.firstSid, `${w.kind.name}: the same session, recovered`);
      } else {
        assert.notEqual(w.socket.id, w.firstSid, `${w.kind.name}: a new session (2.x has no recovery)`);
      }
      assert.ok(w.socket.connected);
    }
  } finally {
    await cleanup(cleanups);
  }
});
