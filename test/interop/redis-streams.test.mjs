// An eventide node and a Node.js socket.io 4.8 node on
// @socket.io/redis-streams-adapter 0.3, one Redis, one stream: broadcasts
// both ways, and Node's requests answered by eventide.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { waitFor, until } from '../e2e/lib/wait.mjs';
import { testKey, redisClient, startNodeServer, startEventide, client, cleanup, createSlot, redisURL } from './lib/cluster.mjs';
import { createClient } from 'redis';
import { io as connect } from 'socket.io-client';
import { startProxy } from '../e2e/lib/proxy.mjs';

describe('eventide and Node on @socket.io/redis-streams-adapter 0.3', () => {
  const cleanups = [];
  let key, srv, node, onNode, onEventide, providerToken;

  before(async () => {
    key = testKey('streams');
    // The adapter duplicates this client for its stream reader; the name
    // (kept by duplicates) finds that reader in CLIENT LIST.
    const name = `interop-${key}`;
    const rc = createClient({ url: redisURL, name });
    rc.on('error', () => {});
    await rc.connect();
    cleanups.push(() => rc.quit().catch(() => rc.destroy()));
    node = await startNodeServer(createAdapter(rc, { streamName: key, channelPrefix: key }), cleanups);
    srv = await startEventide('redis-streams', key, cleanups);
    // Node reads the stream from its end ("$") once its reader runs: wait
    // for that XREAD, so no entry comes before it.
    const probe = await redisClient(cleanups);
    await until(async () => (await probe.sendCommand(['CLIENT', 'LIST']))
      .split('\n').some((l) => l.includes(`name=${name} `) && l.includes('cmd=xread')), 10_000, "Node's stream reader");
    providerToken = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });
    const clientToken = await srv.token({ sub: 'c42', role: 'client', providers: '42' });
    // Both nodes are subscribed (Redis counts them) before anything is sent.
    await until(async () => (await node.io.of('/').adapter.serverCount()) === 2, 10_000, 'both nodes subscribed');
    onNode = await client(node.url, 'provider-42', {}, cleanups);
    onEventide = await client(srv.url, 'provider-42', { token: clientToken }, cleanups);
  });
  after(async () => {
    const c = await redisClient([]);
    await c.del(key).catch(() => {});
    await c.quit();
    await cleanup(cleanups);
  });

  test("a REST change on eventide reaches the Node node's client in provider-42", async () => {
    const got = waitFor(onNode, 'availabilityUpdated', 10_000);
    const slot = await createSlot(srv, providerToken, 'from eventide');
    const [change] = await got;
    assert.equal(change.providerId, '42');
    assert.equal(change.slot.id, slot.id);
    assert.equal(change.slot.note, 'from eventide');
  });

  test("an emit of the Node node reaches eventide's client, binary included", async () => {
    const text = waitFor(onEventide, 'fromNode', 10_000);
    const bin = waitFor(onEventide, 'fromNodeBinary', 10_000);
    node.io.to('provider-42').emit('fromNode', { n: 1, s: 'é😀' });
    node.io.to('provider-42').emit('fromNodeBinary', Buffer.from([0, 1, 255]));
    // With the stream entry id as its recovery offset (as Node's clients
    // get it with connectionStateRecovery).
    const [obj, offset] = await text;
    assert.deepEqual(obj, { n: 1, s: 'é😀' });
    assert.match(offset, /^\d+-\d+$/);
    assert.deepEqual([...new Uint8Array((await bin)[0])], [0, 1, 255]);
  });

  test("Node's serverCount and fetchSockets include eventide, without a timeout", async () => {
    assert.equal(await node.io.of('/').adapter.serverCount(), 2);
    const sockets = await node.io.in('provider-42').fetchSockets();
    assert.deepEqual(sockets.map((s) => s.id).sort(), [onNode.id, onEventide.id].sort());
  });

  test("a broadcast with acks of the Node node gets eventide's client's ack", async () => {
    onEventide.once('ask', (q, ack) => ack({ from: 'eventide', q }));
    onNode.once('ask', (q, ack) => ack({ from: 'node', q }));
    const acks = await node.io.to('provider-42').timeout(5000).emitWithAck('ask', '?');
    assert.deepEqual(acks.map((a) => a.from).sort(), ['eventide', 'node']);
  });

  test("a client of eventide whose connection drops is recovered by a Node node with connectionStateRecovery", async () => {
    // Node reads the session eventide keeps (sio:session:<pid>, its own
    // format) and the stream after the client's offset (ADR 0023).
    const recovering = await startNodeServer(createAdapter(await redisClient(cleanups), { streamName: key, channelPrefix: key }),
      cleanups, { connectionStateRecovery: {} });
    const proxy = await startProxy(Number(new URL(srv.url).port));
    cleanups.push(() => proxy.close());
    const token = await srv.token({ sub: 'c42', role: 'client', providers: '42' });
    const s = connect(proxy.url, { auth: { token }, forceNew: true, transports: ['websocket'], reconnectionDelay: 100 });
    cleanups.push(() => s.close());
    // Its own slots: createSlot's time is taken.
    const slotAt = async (start, note) => {
      const res = await fetch(`${srv.url}/api/v1/providers/42/slots`, {
        method: 'POST',
        headers: { authorization: `Bearer ${providerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ start, end: start.replace('T09', 'T10'), note }),
      });
      assert.equal(res.status, 201, await res.text());
    };
    const notes = [];
    s.on('availabilityUpdated', (c) => notes.push(c.slot.note));
    await waitFor(s, 'connect', 10_000);
    const firstId = s.id;
    await new Promise((resolve) => s.emit('joinRoom', 'provider-42', resolve));
    await slotAt('2030-02-01T09:00:00Z', 'before the drop');
    await until(() => notes.includes('before the drop'), 10_000, 'the change before the drop');
    proxy.retarget(Number(new URL(recovering.url).port));
    const gone = waitFor(s, 'disconnect', 10_000);
    proxy.cut();
    await gone;
    await slotAt('2030-02-02T09:00:00Z', 'missed');
    await waitFor(s, 'connect', 10_000);
    assert.equal(s.recovered, true, 'not recovered by the Node node');
    assert.equal(s.id, firstId);
    await until(() => notes.includes('missed'), 10_000, 'the missed change, replayed by Node');
    assert.equal(notes.filter((n) => n === 'missed').length, 1);
    s.close();
  });
});
