// Shared harness of the interop tests: a Node.js socket.io 4.8 server on
// one of Node's Redis adapters, beside an eventide node (the real binary,
// test/e2e/lib/server.mjs) on the same Redis and key, so they form one
// cluster. Each test uses a key of its own: parallel runs never share a
// channel or a stream.
//
// Redis is $EVENTIDE_TEST_REDIS_URL or redis://127.0.0.1:6379 (`make deps`
// starts it).

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { createClient } from 'redis';
import { startServer } from '../../e2e/lib/server.mjs';
import { waitFor, until } from '../../e2e/lib/wait.mjs';

export const redisURL = process.env.EVENTIDE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** A key (channel prefix, stream name) of the test's own. */
export function testKey(name) {
  return `eventide-interop-${name}-${randomBytes(6).toString('hex')}`;
}

/** A connected node-redis client; closed by cleanup(). */
export async function redisClient(cleanups) {
  const c = createClient({ url: redisURL });
  c.on('error', () => {});
  await c.connect();
  cleanups.push(() => c.quit().catch(() => c.destroy()));
  return c;
}

/**
 * Starts a Node socket.io server with the adapter made by makeAdapter.
 * Its clients join rooms with "joinRoom" (ack {status: "ok"}), as
 * eventide's do; the adapter is io.of("/").adapter. opts are more Server
 * options (e.g. connectionStateRecovery).
 */
export async function startNodeServer(adapter, cleanups, opts = {}) {
  const http = createServer();
  const io = new Server(http, { adapter, ...opts });
  io.on('connection', (s) => {
    s.on('joinRoom', (room, ack) => { s.join(room); ack?.({ status: 'ok', room }); });
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  cleanups.push(() => io.close());
  return { io, url: `http://127.0.0.1:${http.address().port}` };
}

/** Starts eventide on the given adapter and key, and waits until /readyz says Redis is there. */
export async function startEventide(adapter, key, cleanups) {
  const srv = await startServer({ raw: false, args: ['--adapter', adapter, '--redis-url', redisURL, '--redis-key', key] });
  cleanups.push(() => srv.stop());
  await until(async () => (await fetch(`${srv.url}/readyz`)).status === 200, 15_000, 'eventide /readyz');
  return srv;
}

/** A socket.io-client 4.x socket, connected, in room (joinRoom acked). */
export async function client(url, room, auth, cleanups) {
  const s = connect(url, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
  cleanups.push(() => s.close());
  await waitFor(s, 'connect', 10_000);
  const [ack] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for joinRoom ${room}`)), 5000);
    s.emit('joinRoom', room, (...a) => { clearTimeout(timer); resolve(a); });
  });
  if (ack?.status !== 'ok') throw new Error(`joinRoom ${room}: ${JSON.stringify(ack)}`);
  return s;
}

/** Runs the cleanups in reverse order, ignoring their errors. */
export async function cleanup(cleanups) {
  for (const fn of cleanups.reverse()) {
    try { await fn(); } catch { /* already gone */ }
  }
  cleanups.length = 0;
}

/** POSTs a slot of provider 42 on eventide (a REST change: availabilityUpdated follows). */
export async function createSlot(srv, providerToken, note) {
  const res = await fetch(`${srv.url}/api/v1/providers/42/slots`, {
    method: 'POST',
    headers: { authorization: `Bearer ${providerToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ start: '2030-01-01T09:00:00Z', end: '2030-01-01T10:00:00Z', note }),
  });
  if (res.status !== 201) throw new Error(`POST slot: ${res.status} ${await res.text()}`);
  return res.json();
}
