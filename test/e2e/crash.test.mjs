// The event log survives a crash between commit and publish (issue 10,
// ADR 0014): a change is committed, the server is killed with SIGKILL before
// its relay publishes it, a new server starts on the same database, and a
// connected socket.io-client 4.8 receives the change once, with its seq.
//
// It runs bin/eventide-faults (`make build` builds it: the server with the
// test-only fault points of internal/faults; $EVENTIDE_FAULTS_BIN overrides
// it), and the database is a SQLite file of its own unless
// $EVENTIDE_E2E_DATABASE_URL names another (e.g. a fresh PostgreSQL
// database: the same test then runs on PostgreSQL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import { startServer, freePort, repoRoot } from './lib/server.mjs';
import { until, emitWithAck } from './lib/wait.mjs';

const faultsBin = process.env.EVENTIDE_FAULTS_BIN || join(repoRoot, 'bin', 'eventide-faults');
// Generous: a guard against a hang on a loaded machine, never a timing.
const GUARD = 30_000;

async function rest(srv, method, path, token, body) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

test('a change committed before a SIGKILL reaches a connected client once, with its seq, after the restart', async (t) => {
  assert.ok(existsSync(faultsBin), `${faultsBin} not found: run \`make build\` (or set EVENTIDE_FAULTS_BIN)`);
  const dir = await mkdtemp(join(tmpdir(), 'eventide-crash-'));
  const databaseUrl = process.env.EVENTIDE_E2E_DATABASE_URL || join(dir, 'eventide.db');
  const common = { bin: faultsBin, databaseUrl, jwtSecret: randomBytes(32).toString('hex'), port: await freePort(), raw: false };
  const servers = [];
  let socket;
  t.after(async () => {
    socket?.close();
    for (const s of servers) await s.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // 1. A server whose relay stops at the fault point before publishing.
  const first = await startServer({ ...common, envVars: { EVENTIDE_FAULTS: 'relay.before_publish=hold' } });
  servers.push(first);
  const token = await first.token({ sub: 'p42', role: 'provider', providerId: '42' });

  // A client in provider-42 that rejoins the room on every (re)connect.
  const received = [];
  const joins = [];
  socket = io(first.url, { auth: { token }, transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 500 });
  socket.on('availabilityUpdated', (c) => received.push(c));
  socket.on('connect', async () => joins.push(await emitWithAck(socket, 'joinRoom', 'provider-42')));
  await until(() => joins.length === 1, GUARD, 'the first join');
  assert.deepEqual(joins[0], [{ status: 'ok', room: 'provider-42' }]);

  // 2. A change is committed (201); the relay holds before publishing it.
  const created = await rest(first, 'POST', '/api/v1/providers/42/slots', token,
    { start: '2030-01-01T09:00:00Z', end: '2030-01-01T10:00:00Z', note: 'before the crash' });
  assert.equal(created.status, 201);
  await first.waitOutput('fault point relay.before_publish: holding', GUARD);

  // 3. SIGKILL: no shutdown, no publish.
  const dropped = new Promise((resolve) => socket.once('disconnect', resolve));
  await first.kill('SIGKILL');
  assert.equal(first.exitStatus().signal, 'SIGKILL');
  await dropped;
  assert.deepEqual(received, [], 'nothing was published before the crash');

  // 4. A new server on the same database and port; its relay waits at its
  // start until the client is back in the room.
  const second = await startServer({ ...common, envVars: { EVENTIDE_FAULTS: 'relay.start=hold' } });
  servers.push(second);
  await second.waitOutput('fault point relay.start: holding', GUARD);
  await until(() => joins.length === 2, GUARD, 'the client to reconnect and rejoin');
  assert.deepEqual(joins[1], [{ status: 'ok', room: 'provider-42' }]);
  const list = await rest(second, 'GET', '/api/v1/providers/42/slots', token);
  assert.equal(list.status, 200);
  assert.equal(list.body.seq, 1, 'the change was committed before the crash');
  assert.deepEqual(list.body.slots.map((s) => s.note), ['before the crash']);
  assert.deepEqual(received, []);

  // 5. The relay goes on: the committed change reaches the client.
  await second.kill('SIGUSR1');
  await until(() => received.length >= 1, GUARD, 'the change after the restart');
  assert.equal(received[0].action, 'created');
  assert.equal(received[0].providerId, '42');
  assert.equal(received[0].seq, 1);
  assert.equal(received[0].slot.id, created.body.id);
  assert.equal(received[0].slot.note, 'before the crash');

  // 6. Exactly once: the next change comes right after it, and nothing else.
  const patched = await rest(second, 'PATCH', `/api/v1/providers/42/slots/${created.body.id}`, token, { status: 'booked' });
  assert.equal(patched.status, 200);
  await until(() => received.length >= 2, GUARD, 'the next change');
  assert.deepEqual(received.map((c) => [c.action, c.seq]), [['created', 1], ['updated', 2]]);
});
