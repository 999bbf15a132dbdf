// The rate limits of issue 12 as socket.io-client 4.8 and a REST client see
// them: per socket and per token subject for Socket.IO events (joinRoom
// included), with an `exception` and the ack for a refused event and a
// disconnect once the client ignores the refusals; per subject for REST
// writes, with 429 problem+json and Retry-After.
//
// No test depends on time: the rates are one token per 1,000 s, so a burst
// spent stays spent for as long as any test runs, however loaded the
// machine; only the bursts and the refusal count matter.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer } from './lib/server.mjs';
import { waitFor, collect, emitWithAck } from './lib/wait.mjs';

const SOCKET_BURST = 5;
const SUBJECT_BURST = 8;
const ABUSE_REFUSALS = 3;
const WRITE_BURST = 3;

// Every `serve` flag of this file, in one place.
const SERVER_ARGS = [
  '--socket-event-rate', '0.001', '--socket-event-burst', String(SOCKET_BURST),
  '--subject-event-rate', '0.001', '--subject-event-burst', String(SUBJECT_BURST),
  '--event-abuse-refusals', String(ABUSE_REFUSALS), '--event-abuse-window', '1h',
  '--rest-write-rate', '0.001', '--rest-write-burst', String(WRITE_BURST),
];

let srv;
const sockets = [];
before(async () => { srv = await startServer({ args: SERVER_ARGS }); });
after(async () => {
  for (const s of sockets) s.close();
  await srv?.stop();
});

const transports = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
};

async function connect(sub, opts = {}) {
  const token = await srv.token({ sub, role: 'client', providers: '*' });
  const s = io(srv.url, { auth: { token }, forceNew: true, ...opts });
  sockets.push(s);
  await waitFor(s, 'connect');
  return s;
}

const join = async (s, room) => (await emitWithAck(s, 'joinRoom', room))[0];

const context = () => `\n--- server output ---\n${srv.output().slice(-4000)}`;

for (const [name, opts] of Object.entries(transports)) {
  describe(`events per socket over ${name}`, () => {
    test('the burst passes; the next event is refused with an exception and the ack; ignoring that disconnects', async () => {
      const s = await connect(`rl-socket-${name}`, opts);
      const exceptions = collect(s, 'exception');
      const disconnects = [];
      s.on('disconnect', (reason) => disconnects.push(reason));

      for (let i = 1; i <= SOCKET_BURST; i++) {
        const ack = await join(s, `provider-${i}`);
        assert.equal(ack.status, 'ok', `joinRoom ${i} of the burst: ${JSON.stringify(ack)}${context()}`);
      }
      const refused = await join(s, 'provider-99');
      assert.equal(refused.status, 'error');
      assert.match(refused.message,
        /^rate limited: a connection may send 0\.001 events a second, 5 at once; retry in \d+/);
      assert.deepEqual(exceptions, [{
        status: 'error', message: refused.message, cause: { event: 'joinRoom', room: 'provider-99' },
      }]);
      assert.ok(s.connected, 'a refusal does not disconnect');

      // Any event counts, not only the gateway's: the ack comes from the limit.
      const [other] = await emitWithAck(s, 'somethingElse', 1);
      assert.equal(other.status, 'error');

      // More than ABUSE_REFUSALS refused: the last exception, then the
      // server disconnects, and socket.io-client does not reconnect by itself.
      const gone = waitFor(s, 'disconnect');
      for (let refusals = 2; refusals < ABUSE_REFUSALS; refusals++) await join(s, 'provider-99');
      s.emit('joinRoom', 'provider-99');
      const [reason] = await gone;
      assert.equal(reason, 'io server disconnect');
      assert.equal(s.active, false, 'socket.io-client would reconnect');
      const messages = exceptions.map((e) => e.message);
      assert.equal(messages.length, ABUSE_REFUSALS + 1, JSON.stringify(messages));
      assert.ok(messages.slice(0, -1).every((m) => m.startsWith('rate limited:')), JSON.stringify(messages));
      assert.equal(messages.at(-1), 'too many events: more than 3 refused within 1h; disconnecting');
      assert.deepEqual(disconnects, ['io server disconnect']);

      // The server said so too: a WARN line per limit (one per limit every
      // 10 s: the other transport's test may have written it), and why
      // the socket went.
      await srv.waitOutput('msg="limit reached" component=limits limit=realtime.socket_events');
      await srv.waitOutput('msg="limit reached" component=limits limit=realtime.event_abuse');
      await srv.waitOutput('msg="too many events refused; disconnecting"');
    });
  });
}

describe('events per token subject', () => {
  test('the sockets of one subject share a budget; another subject has its own', async () => {
    const a = await connect('rl-subject');
    const b = await connect('rl-subject');
    const half = SUBJECT_BURST / 2;
    for (let i = 1; i <= half; i++) {
      assert.equal((await join(a, `provider-${i}`)).status, 'ok');
      assert.equal((await join(b, `provider-${i}`)).status, 'ok');
    }
    // b's own budget has a token left; the subject's has none.
    const refused = await join(b, 'provider-42');
    assert.equal(refused.status, 'error');
    assert.match(refused.message,
      /^rate limited: the connections of one token subject together may send 0\.001 events a second, 8 at once; retry in /);
    assert.ok(b.connected);

    const other = await connect('rl-subject-other');
    assert.equal((await join(other, 'provider-42')).status, 'ok');
    await srv.waitOutput('limit=realtime.subject_events');
  });
});

describe('REST writes per token subject', () => {
  async function post(token, i) {
    const start = new Date(Date.UTC(2030, 0, 1, i));
    const end = new Date(start.getTime() + 30 * 60_000);
    const res = await fetch(`${srv.url}/api/v1/providers/42/slots`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ start: start.toISOString(), end: end.toISOString() }),
    });
    return { status: res.status, type: res.headers.get('content-type'), retryAfter: res.headers.get('retry-after'), body: await res.json() };
  }

  test('the burst passes; the next write gets 429 problem+json with Retry-After; reads and other subjects go on', async () => {
    const token = await srv.token({ sub: 'rl-rest', role: 'provider', providerId: '42' });
    for (let i = 0; i < WRITE_BURST; i++) {
      const r = await post(token, i);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const r = await post(token, 10);
    assert.equal(r.status, 429);
    assert.equal(r.type, 'application/problem+json');
    assert.match(r.retryAfter, /^[1-9][0-9]*$/);
    assert.ok(Number(r.retryAfter) <= 1000, r.retryAfter);
    assert.equal(r.body.status, 429);
    assert.equal(r.body.title, 'Too Many Requests');
    assert.match(r.body.detail, new RegExp(`^too many writes: one token subject may make 0\\.001 writes a second, 3 at once; retry after ${r.retryAfter} s$`));

    const list = await fetch(`${srv.url}/api/v1/providers/42/slots`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(list.status, 200);
    assert.equal((await list.json()).slots.length, WRITE_BURST, 'the refused write stored nothing');

    const other = await srv.token({ sub: 'rl-rest-other', role: 'provider', providerId: '42' });
    assert.equal((await post(other, 20)).status, 201);
    await srv.waitOutput('limit=http.write_rate');
  });
});
