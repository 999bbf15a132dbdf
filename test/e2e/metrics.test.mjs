// Prometheus metrics (ADR 0024) as an operator scrapes them while
// socket.io-client 4.8 (polling) and 2.x (WebSocket) clients use the server:
// connections by transport and protocol, one event out per socket of the
// room, refusals by reason, and /metrics only on the admin listener.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io as io4 } from 'socket.io-client';
import io2 from 'socket.io-client-v2';
import { startServer, freePort } from './lib/server.mjs';
import { waitFor, emitWithAck, until } from './lib/wait.mjs';

let srv;
let admin;
const sockets = [];
before(async () => {
  admin = `http://127.0.0.1:${await freePort()}`;
  srv = await startServer({ args: ['--admin-addr', admin.slice('http://'.length)] });
});
after(async () => {
  for (const s of sockets) s.close();
  await srv?.stop();
});

// scrape returns the admin listener's series as { 'name{labels}': value },
// labels sorted by name as the Go client writes them.
async function scrape() {
  const res = await fetch(`${admin}/metrics`);
  assert.equal(res.status, 200);
  const out = {};
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

const conns = (transport, protocol) => `eventide_engineio_connections{protocol="${protocol}",transport="${transport}"}`;

test('/metrics is on the admin listener only', async () => {
  const res = await fetch(`${srv.url}/metrics`);
  assert.equal(res.status, 404);
  assert.match((await res.json()).detail, /admin listener/);
  const m = await scrape();
  assert.ok('go_goroutines' in m && 'eventide_relay_lag_seconds' in m);
});

test('figures move with a 4.x polling client and a 2.x WebSocket client', async () => {
  const token = await srv.token({ sub: 'metrics', role: 'client', providers: '42' });
  const a = io4(srv.url, { auth: { token }, transports: ['polling'], forceNew: true, reconnection: false });
  const b = io2(srv.url, { query: { token }, transports: ['websocket'], forceNew: true, reconnection: false });
  sockets.push(a, b);
  for (const s of [a, b]) {
    if (!s.connected) await waitFor(s, 'connect');
    const [ack] = await emitWithAck(s, 'joinRoom', 'provider-42');
    assert.equal(ack.status, 'ok');
  }
  let m = await scrape();
  assert.equal(m[conns('polling', 4)], 1);
  assert.equal(m[conns('websocket', 3)], 1);
  assert.equal(m['eventide_socketio_sockets{namespace="/"}'], 2);
  assert.equal(m['eventide_socketio_rooms{namespace="/"}'], 1);

  // One change to provider 42: one availabilityUpdated per socket of its room.
  const writer = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });
  const got = [a, b].map((s) => waitFor(s, 'availabilityUpdated'));
  const res = await fetch(`${srv.url}/api/v1/providers/42/slots`, {
    method: 'POST',
    headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ start: '2031-01-01T09:00:00Z', end: '2031-01-01T09:30:00Z' }),
  });
  assert.equal(res.status, 201);
  await Promise.all(got);
  m = await until(async () => {
    const s = await scrape();
    return s['eventide_socketio_events_sent_total{event="availabilityUpdated"}'] === 2 && s;
  }, undefined, 'two availabilityUpdated counted');
  assert.equal(m['eventide_http_requests_total{code="201",method="POST",route="/api/v1/providers/{providerId}/slots"}'], 1);
  assert.equal(m['eventide_relay_events_published_total'], 1);

  // A forged token is refused, by reason; the connection count is back to 0
  // once everyone left.
  const bad = io4(srv.url, { auth: { token: 'not-a-jwt' }, forceNew: true, reconnection: false });
  sockets.push(bad);
  await waitFor(bad, 'connect_error');
  bad.close();
  a.close();
  b.close();
  m = await until(async () => {
    const s = await scrape();
    const open = Object.entries(s).filter(([k]) => k.startsWith('eventide_engineio_connections{')).reduce((n, [, v]) => n + v, 0);
    return open === 0 && s;
  }, undefined, 'every connection closed');
  assert.equal(m['eventide_socketio_connect_refusals_total{reason="invalid_token"}'], 1);
  assert.equal(m['eventide_socketio_sockets{namespace="/"}'], 0);
});
