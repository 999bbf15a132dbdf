// An eventide node and a Node.js socket.io 4.8 node on @socket.io/redis-adapter
// 8.3, one Redis, one key: one cluster. Also @socket.io/redis-emitter 5.1
// emitting into it. Real eventide binary (`make build`), real npm packages
// from the committed lock file.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '@socket.io/redis-adapter';
import { Emitter } from '@socket.io/redis-emitter';
import { waitFor, until } from '../e2e/lib/wait.mjs';
import { testKey, redisClient, startNodeServer, startEventide, client, cleanup, createSlot } from './lib/cluster.mjs';

describe('eventide and Node on @socket.io/redis-adapter 8.3', () => {
  const cleanups = [];
  let key, srv, node, onNode, onEventide, providerToken;

  before(async () => {
    key = testKey('classic');
    const pub = await redisClient(cleanups);
    const sub = await redisClient(cleanups);
    node = await startNodeServer(createAdapter(pub, sub, { key }), cleanups);
    srv = await startEventide('redis', key, cleanups);
    providerToken = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });
    const clientToken = await srv.token({ sub: 'c42', role: 'client', providers: '42' });
    // Both nodes are subscribed (Redis counts them) before anything is sent.
    await until(async () => (await node.io.of('/').adapter.serverCount()) === 2, 10_000, 'both nodes subscribed');
    onNode = await client(node.url, 'provider-42', {}, cleanups);
    onEventide = await client(srv.url, 'provider-42', { token: clientToken }, cleanups);
  });
  after(async () => {
    await cleanup(cleanups);
  });

  test("a REST change on eventide reaches the Node node's client in provider-42", async () => {
    const got = waitFor(onNode, 'availabilityUpdated', 10_000);
    const mine = waitFor(onEventide, 'availabilityUpdated', 10_000);
    const slot = await createSlot(srv, providerToken, 'from eventide');
    const [change] = await got;
    assert.equal(change.providerId, '42');
    assert.equal(change.action, 'created');
    assert.equal(change.slot.id, slot.id);
    assert.equal(change.slot.note, 'from eventide');
    assert.equal(typeof change.seq, 'number');
    assert.deepEqual((await mine)[0], change);
  });

  test("an emit of the Node node reaches eventide's client, binary included", async () => {
    const got = waitFor(onEventide, 'fromNode', 10_000);
    node.io.to('provider-42').emit('fromNode', { n: 1, s: 'é😀' }, Buffer.from([0, 1, 255]));
    const [obj, bin] = await got;
    assert.deepEqual(obj, { n: 1, s: 'é😀' });
    assert.deepEqual([...new Uint8Array(bin)], [0, 1, 255]);
  });

  test("@socket.io/redis-emitter's text and binary reach eventide's client", async () => {
    const emitter = new Emitter(await redisClient(cleanups), { key });
    const text = waitFor(onEventide, 'emittedText', 10_000);
    const bin = waitFor(onEventide, 'emittedBinary', 10_000);
    emitter.to('provider-42').emit('emittedText', 'hello', { a: [1, 2.5, null] });
    emitter.to('provider-42').emit('emittedBinary', Buffer.from('bytes'), { nested: Buffer.from([7]) });
    // No recovery offset: an emitter's broadcast is not in eventide's
    // recovery stream (ADR 0023), so it gets none.
    assert.deepEqual(await text, ['hello', { a: [1, 2.5, null] }]);
    const [b, o] = await bin;
    assert.equal(Buffer.from(b).toString(), 'bytes');
    assert.deepEqual([...new Uint8Array(o.nested)], [7]);

    // Its requests carry no uid and no requestId: eventide acts on them.
    emitter.in(onEventide.id).socketsJoin('joined-by-emitter');
    await until(async () => (await node.io.of('/').adapter.allRooms()).has('joined-by-emitter'), 10_000,
      'eventide socket in the room the emitter named');
  });

  test("Node's serverCount and fetchSockets include eventide, without a timeout", async () => {
    assert.equal(await node.io.of('/').adapter.serverCount(), 2);
    const sockets = await node.io.in('provider-42').fetchSockets();
    const ids = sockets.map((s) => s.id).sort();
    assert.deepEqual(ids, [onNode.id, onEventide.id].sort());
    const remote = sockets.find((s) => s.id === onEventide.id);
    assert.ok(remote.rooms.has('provider-42'));
    assert.equal(remote.handshake.query.EIO, '4');
    const rooms = await node.io.of('/').adapter.allRooms();
    assert.ok(rooms.has(onEventide.id) && rooms.has('provider-42'));
  });

  test("Node's socketsJoin and a broadcast with acks reach eventide's socket", async () => {
    node.io.in(onEventide.id).socketsJoin('room-x');
    const got = waitFor(onEventide, 'inRoomX', 10_000);
    // The join travels as a request; the broadcast after it, on the
    // room's channel, reaches eventide once its socket is in the room.
    await until(async () => (await node.io.of('/').adapter.allRooms()).has('room-x'), 10_000, 'room-x on eventide');
    node.io.to('room-x').emit('inRoomX', 1);
    assert.deepEqual((await got)[0], 1);

    onEventide.once('ask', (q, ack) => ack({ from: 'eventide', q }));
    onNode.once('ask', (q, ack) => ack({ from: 'node', q }));
    const acks = await node.io.to('provider-42').timeout(5000).emitWithAck('ask', '?');
    assert.deepEqual(acks.map((a) => a.from).sort(), ['eventide', 'node']);
  });
});
