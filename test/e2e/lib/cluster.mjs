// Harness of the cluster tests: several eventide nodes (the real binary,
// lib/server.mjs) on one Redis and one PostgreSQL database, a private
// redis-server a test may kill and start again, and the official clients
// (socket.io-client 4.8 and 2.5) each bound to one node, recording every
// availabilityUpdated they get, per provider.
//
//   const redis = await startRedis(cleanups);            // never the shared one
//   const db = await scratchDatabase();
//   const nodes = await startNodes(3, { adapter: 'redis', redisUrl: redis.url, key, databaseUrl: db.url }, cleanups);

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { io as io4 } from 'socket.io-client';
import io2 from 'socket.io-client-v2';
import { startServer, freePort } from './server.mjs';
import { waitFor, until, emitWithAck } from './wait.mjs';

/** The shared Redis of the test suite ($EVENTIDE_TEST_REDIS_URL or the local one). */
export const sharedRedisURL = process.env.EVENTIDE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** A Redis key (channel prefix, stream name) of the test's own. */
export function testKey(name) {
  return `eventide-cluster-${name}-${randomBytes(6).toString('hex')}`;
}

/** Resolves true when something answers PONG to PING at port, false otherwise. */
export function redisPing(port) {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => { got += d; if (got.includes('\r\n')) done(got.startsWith('+PONG')); });
  });
}

/**
 * Starts a redis-server of the test's own on a free port, without
 * persistence, so the test may kill it and start it again on the same port
 * without touching the shared one. kill() ends it (SIGKILL) and waits;
 * start() starts it again on the same port and waits for PONG.
 */
export async function startRedis(cleanups) {
  const port = await freePort();
  let child = null;
  let exited = null;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' });
    exited = new Promise((r) => child.on('exit', r));
    await until(() => redisPing(port), 15_000, `redis-server on port ${port}`);
  };
  const kill = async () => {
    if (child === null) return;
    child.kill('SIGKILL');
    await exited;
    child = null;
  };
  await start();
  cleanups.push(kill);
  return { url: `redis://127.0.0.1:${port}`, port, start, kill };
}

/**
 * Starts n eventide nodes on one adapter, Redis key and database, with one
 * JWT secret, and waits until each says it is ready (/readyz 200: store and
 * Redis reachable).
 */
export async function startNodes(n, { adapter, redisUrl, key, databaseUrl, secret, args = [] }, cleanups) {
  const jwtSecret = secret ?? randomBytes(32).toString('hex');
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const srv = await startServer({
      jwtSecret,
      raw: false,
      databaseUrl,
      args: ['--adapter', adapter, '--redis-url', redisUrl, '--redis-key', key, ...args],
    });
    cleanups.push(() => srv.stop());
    srv.name = `node${i}`;
    nodes.push(srv);
  }
  for (const srv of nodes) await until(() => readyz(srv).then((s) => s === 200), 30_000, `${srv.name} /readyz 200`);
  return nodes;
}

/** The status of GET /readyz (0 when the node does not answer). */
export async function readyz(srv) {
  try {
    const res = await fetch(`${srv.url}/readyz`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * The kinds of client the cluster tests spread over the nodes: the client,
 * the transports it is given (2.x: polling then upgrade, the default).
 */
export const clientKinds = [
  { name: 'v4-websocket', version: 4, transports: ['websocket'] },
  { name: 'v4-polling', version: 4, transports: ['polling'] },
  { name: 'v2-polling-upgrade', version: 2, transports: ['polling', 'websocket'] },
  { name: 'v2-websocket', version: 2, transports: ['websocket'] },
];

/**
 * Connects a client of kind to srv with token, joins rooms (provider ids),
 * and records every availabilityUpdated: got[providerId] is the list of
 * seqs in the order they came. The socket never reconnects by itself
 * (reconnection: false) unless opts.reconnection: then it joins its rooms
 * again on every connect, as an application does. opts.agent is handed to
 * the client (its polling requests and its WebSocket).
 */
export async function watcher(srv, kind, token, providers, cleanups, opts = {}) {
  const reconnection = opts.reconnection ?? false;
  const common = { transports: kind.transports, forceNew: true, reconnection, reconnectionDelay: 100 };
  if (opts.agent) common.agent = opts.agent; // e.g. an http.Agent with a localAddress of its own
  const s = kind.version === 4 ? io4(srv.url, { auth: { token }, ...common }) : io2(srv.url, { query: { token }, ...common });
  cleanups.push(() => s.close());
  const got = Object.fromEntries(providers.map((p) => [p, []]));
  const strays = [];
  s.on('availabilityUpdated', (c) => {
    if (got[c.providerId]) got[c.providerId].push(c.seq);
    else strays.push(c);
  });
  const join = () => Promise.all(providers.map(async (p) => {
    const [ack] = await emitWithAck(s, 'joinRoom', `provider-${p}`);
    if (ack?.status !== 'ok') throw new Error(`${kind.name} joinRoom provider-${p}: ${JSON.stringify(ack)}`);
  }));
  const w = { socket: s, kind, node: srv.name, got, strays, providers, connects: 0, joined: null };
  s.on('connect', () => { w.connects++; if (w.connects > 1) w.joined = join(); });
  if (!s.connected) await waitFor(s, 'connect', 30_000);
  await join();
  if (kind.transports.length > 1) {
    // A 2.x client upgrades after the handshake: wait for it, so that the
    // upgrade happens while events flow only when a test wants it to.
    await until(() => s.io.engine.transport.name === 'websocket', 30_000, `${kind.name} to upgrade`);
  }
  return w;
}

/** A fetch with a bearer token and a JSON body; resolves {status, body}. */
export async function rest(srv, token, method, path, body) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** [1, 2, ..., n]. */
export const oneTo = (n) => Array.from({ length: n }, (_, i) => i + 1);

/** A random element of list. */
export const pick = (list) => list[Math.floor(Math.random() * list.length)];
