// The Eventide server as its frontends use it: JWT handshake, provider rooms,
// availabilityUpdated from REST changes, 2.x clients, and the plain WebSocket
// module. Real server binary, real SQLite, real socket.io-client from npm.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { io as io4 } from 'socket.io-client';
import io2 from 'socket.io-client-v2';
import WebSocket from 'ws';
import { createHmac } from 'node:crypto';
import { startServer } from './lib/server.mjs';
import { waitFor, collect, emitWithAck, until, sleep, connectBeforeExpiry } from './lib/wait.mjs';

let srv;
const sockets = [];
// A one-second JWT leeway: short enough to watch a token expire on a live
// socket, long enough to check that the leeway holds there too.
before(async () => { srv = await startServer({ args: ['--jwt-leeway', '1s'] }); });
after(async () => {
  for (const s of sockets) s.close();
  await srv?.stop();
});

function connect4(token, opts = {}) {
  const s = io4(srv.url, { auth: token === undefined ? {} : { token }, forceNew: true, reconnection: false, ...opts });
  sockets.push(s);
  return s;
}

function connect2(token, transports) {
  const s = io2(srv.url, { query: { token }, transports, forceNew: true, reconnection: false });
  sockets.push(s);
  return s;
}

async function connected(s) {
  if (!s.connected) await waitFor(s, 'connect');
  return s;
}

async function rest(method, path, token, body) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: text ? JSON.parse(text) : null };
}

// A token signed with another secret: right shape, wrong signature.
function forgedToken() {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const claims = b64({ sub: 'mallory', role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 });
  const sig = createHmac('sha256', 'not-the-server-secret').update(`${head}.${claims}`).digest('base64url');
  return `${head}.${claims}.${sig}`;
}

describe('handshake', () => {
  test('no token gets connect_error', async () => {
    const s = connect4(undefined);
    const [err] = await waitFor(s, 'connect_error');
    assert.match(err.message, /unauthorized/i);
    assert.equal(s.connected, false);
  });

  test('a forged token gets connect_error', async () => {
    const s = connect4(forgedToken());
    const [err] = await waitFor(s, 'connect_error');
    assert.match(err.message, /unauthorized/i);
  });

  test('alg=none gets connect_error', async () => {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const s = connect4(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', role: 'admin', exp: 9999999999 })}.`);
    const [err] = await waitFor(s, 'connect_error');
    assert.match(err.message, /unauthorized/i);
  });

  test('an expired token gets connect_error, and one that expires while connected disconnects', async () => {
    const expired = await srv.token({ sub: 'old', role: 'admin', ttl: '-1m' });
    const s = connect4(expired);
    const [err] = await waitFor(s, 'connect_error');
    assert.match(err.message, /expired/i);

    // A token of a few seconds (more if the machine is too loaded to
    // connect with it in time).
    const { socket: live, token: short } = await connectBeforeExpiry(
      (ttl) => srv.token({ sub: 'brief', role: 'admin', ttl }),
      (token) => connect4(token),
    );
    const [reason] = await waitFor(live, 'disconnect', 3 * 80_000); // the longest token, and more
    assert.equal(reason, 'io server disconnect');
    // Disconnected when the handshake stops taking the token (exp + leeway):
    // reconnecting with it is refused, not let in and kicked again.
    const [again] = await waitFor(connect4(short), 'connect_error');
    assert.match(again.message, /expired/);
  });

  test('the server is still alive for good tokens', async () => {
    const s = await connected(connect4(await srv.token({ sub: 'ok', role: 'admin' })));
    assert.ok(s.id);
  });
});

describe('provider rooms and availabilityUpdated', () => {
  let provider, client42, client43, bystander, old2ws, old2poll, providerToken;

  before(async () => {
    providerToken = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });
    const client42Token = await srv.token({ sub: 'c1', role: 'client', providers: '42,44' });
    provider = await connected(connect4(providerToken));
    client42 = await connected(connect4(client42Token));
    client43 = await connected(connect4(await srv.token({ sub: 'c2', role: 'client', providers: '43' })));
    bystander = await connected(connect4(await srv.token({ sub: 'admin', role: 'admin' })));
    old2ws = await connected(connect2(client42Token, ['websocket']));
    old2poll = await connected(connect2(client42Token, ['polling']));
  });

  test('a provider and an allowed client join provider-42', async () => {
    const joined = waitFor(provider, 'joinedRoom');
    const ack = await emitWithAck(provider, 'joinRoom', 'provider-42');
    assert.deepEqual(ack, [{ status: 'ok', room: 'provider-42' }]);
    assert.deepEqual((await joined)[0], { room: 'provider-42' });

    const joined2 = waitFor(client42, 'joinedRoom');
    client42.emit('joinRoom', { providerId: '42' }); // no ack: the event alone answers
    assert.deepEqual((await joined2)[0], { room: 'provider-42' });

    for (const s of [old2ws, old2poll]) {
      const ack2 = await emitWithAck(s, 'joinRoom', { room: 'provider-42' });
      assert.deepEqual(ack2, [{ status: 'ok', room: 'provider-42' }]);
    }
  });

  test('a client allowed only 43 is refused with the exception event', async () => {
    const ex = waitFor(client43, 'exception');
    const ack = await emitWithAck(client43, 'joinRoom', 'provider-42');
    assert.equal(ack[0].status, 'error');
    const [payload] = await ex;
    assert.equal(payload.status, 'error');
    assert.match(payload.message, /not allowed/);
    assert.deepEqual(payload.cause, { event: 'joinRoom', room: 'provider-42' });
    assert.equal(client43.connected, true, 'a refusal keeps the connection');
  });

  test('a malformed room request gets an exception and the socket stays usable', async () => {
    const ex = waitFor(client43, 'exception');
    client43.emit('joinRoom', { nope: true });
    const [payload] = await ex;
    assert.match(payload.message, /invalid room/);
    const ack = await emitWithAck(client43, 'joinRoom', 'provider-43');
    assert.deepEqual(ack, [{ status: 'ok', room: 'provider-43' }]);
  });

  test('POST, PATCH and DELETE deliver availabilityUpdated in order with seq 1, 2, 3 to the room only', async () => {
    const watchers = { provider, client42, old2ws, old2poll };
    const got = Object.fromEntries(Object.entries(watchers).map(([k, s]) => [k, collect(s, 'availabilityUpdated')]));
    const stray = [collect(client43, 'availabilityUpdated'), collect(bystander, 'availabilityUpdated')];

    const created = await rest('POST', '/api/v1/providers/42/slots', providerToken, {
      start: '2030-01-01T09:00:00Z', end: '2030-01-01T10:00:00Z', note: 'first',
    });
    assert.equal(created.status, 201);
    const id = created.body.id;
    const patched = await rest('PATCH', `/api/v1/providers/42/slots/${id}`, providerToken, { status: 'booked' });
    assert.equal(patched.status, 200);
    const deleted = await rest('DELETE', `/api/v1/providers/42/slots/${id}`, providerToken);
    assert.equal(deleted.status, 204);

    for (const [name, events] of Object.entries(got)) {
      await until(() => events.length >= 3, undefined, `3 events on ${name}`);
      assert.deepEqual(events.map((e) => [e.action, e.seq]), [['created', 1], ['updated', 2], ['deleted', 3]], name);
      for (const e of events) {
        assert.equal(e.providerId, '42');
        assert.equal(e.slot.id, id);
        assert.ok(!Number.isNaN(Date.parse(e.at)), 'at is a timestamp');
      }
      assert.equal(events[1].slot.status, 'booked');
    }
    await sleep(200);
    assert.deepEqual(stray, [[], []], 'no one outside provider-42 hears of it');
  });

  test('leaveRoom answers leftRoom and stops the events', async () => {
    const left = waitFor(client42, 'leftRoom');
    const ack = await emitWithAck(client42, 'leaveRoom', 'provider-42');
    assert.deepEqual(ack, [{ status: 'ok', room: 'provider-42' }]);
    assert.deepEqual((await left)[0], { room: 'provider-42' });
    const after = collect(client42, 'availabilityUpdated');
    const seen = collect(provider, 'availabilityUpdated');
    const r = await rest('POST', '/api/v1/providers/42/slots', providerToken, {
      start: '2030-01-02T09:00:00Z', end: '2030-01-02T10:00:00Z',
    });
    assert.equal(r.status, 201);
    await until(() => seen.length === 1, undefined, 'the event on the provider');
    assert.equal(seen[0].seq, 4);
    await sleep(150);
    assert.deepEqual(after, []);
  });
});

describe('REST bad input stores nothing', () => {
  test('unknown fields, bad times, start after end, overlap and oversize are refused', async () => {
    const token = await srv.token({ sub: 'p7', role: 'provider', providerId: '7' });
    const list = async () => (await rest('GET', '/api/v1/providers/7/slots', token)).body;
    const ok = await rest('POST', '/api/v1/providers/7/slots', token, { start: '2030-01-01T09:00:00Z', end: '2030-01-01T10:00:00Z' });
    assert.equal(ok.status, 201);
    const before = JSON.stringify(await list());

    const cases = [
      [{ start: '2030-01-01T11:00:00Z', end: '2030-01-01T12:00:00Z', colour: 'red' }, 400, /colour/],
      [{ start: 'tomorrow', end: '2030-01-01T12:00:00Z' }, 400, /start/],
      [{ start: '2030-01-01T13:00:00Z', end: '2030-01-01T12:00:00Z' }, 400, /start|end/],
      [{ start: '2030-01-01T11:00:00Z', end: '2030-01-01T12:00:00Z', status: 'maybe' }, 400, /status/],
      [{ start: '2030-01-01T11:00:00Z', end: '2030-01-01T12:00:00Z', note: 'x'.repeat(501) }, 400, /note/],
      [{ start: '2030-01-01T09:30:00Z', end: '2030-01-01T10:30:00Z' }, 409, /overlap/i],
      ['{"start": "2030-01-01T11:00:00Z",', 400, /json|body/i],
      [{ start: '2030-01-01T11:00:00Z', end: '2030-01-01T12:00:00Z', note: 'y'.repeat(2_000_000) }, 413, /large|size|body/i],
    ];
    for (const [body, status, pattern] of cases) {
      const r = await rest('POST', '/api/v1/providers/7/slots', token, body);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.match(r.type, /application\/problem\+json/);
      assert.match(JSON.stringify(r.body), pattern);
    }
    const forbidden = await rest('POST', '/api/v1/providers/8/slots', token, { start: '2030-01-01T11:00:00Z', end: '2030-01-01T12:00:00Z' });
    assert.equal(forbidden.status, 403);
    assert.equal(JSON.stringify(await list()), before, 'nothing was stored');
  });
});

describe('plain WebSocket module', () => {
  const open = (url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
  const next = (ws) => waitFor(ws, 'message').then(([data]) => JSON.parse(String(data)));

  test('echoes {event, payload} as {message, payload, timestamp}, on both listeners', async () => {
    for (const url of [srv.rawUrl, srv.url.replace('http', 'ws') + '/ws']) {
      const ws = await open(url);
      const reply = next(ws);
      ws.send(JSON.stringify({ event: 'user-login', payload: { userId: 123, username: 'john_doe' } }));
      const r = await reply;
      assert.equal(r.message, 'Event received');
      assert.deepEqual(r.payload, { userId: 123, username: 'john_doe' });
      assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      ws.close();
    }
  });

  test('malformed JSON gets an error and the connection stays open', async () => {
    const ws = await open(srv.rawUrl);
    const err = next(ws);
    ws.send('{not json');
    const e = await err;
    assert.ok(e.error || e.message, JSON.stringify(e));
    assert.notEqual(e.message, 'Event received');
    const reply = next(ws);
    ws.send(JSON.stringify({ event: 'attendance-update', payload: { attendeeId: 456, status: 'present' } }));
    assert.deepEqual((await reply).payload, { attendeeId: 456, status: 'present' });
    ws.close();
  });

  test('Broadcast reaches every client', async () => {
    const a = await open(srv.rawUrl);
    const b = await open(srv.url.replace('http', 'ws') + '/ws');
    const got = [next(a), next(b)];
    const admin = await srv.token({ sub: 'admin', role: 'admin' });
    const r = await fetch(srv.url + '/api/v1/dev/attendance/broadcast', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Hello to all clients!', type: 'info' }),
    });
    assert.equal(r.status, 202);
    for (const m of await Promise.all(got)) assert.deepEqual(m, { message: 'Hello to all clients!', type: 'info' });
    a.close();
    b.close();
  });
});
