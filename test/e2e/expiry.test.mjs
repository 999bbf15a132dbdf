// A token that expires on a live connection, as socket.io-client 4.8 sees
// it: exactly one `exception` {message: "token expired"}, then exactly one
// `disconnect` with reason "io server disconnect", and nothing stale once it
// reconnects with a fresh token. Over polling this needs the server to send
// the queued packets before the close packet, in a later poll, as Node does:
// socket.io-client (4.5.3 and later) handles a close packet before the
// packets beside it.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer } from './lib/server.mjs';
import { waitFor, emitWithAck, connectBeforeExpiry } from './lib/wait.mjs';

// Every `serve` flag of this file, in one place (e.g. a JWT leeway of 0 so
// that live expiry and the handshake agree).
const SERVER_ARGS = ['--jwt-leeway', '0s'];

let srv;
const sockets = [];
before(async () => { srv = await startServer({ args: SERVER_ARGS }); });
after(async () => {
  for (const s of sockets) s.close();
  await srv?.stop();
});

const transports = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
};

for (const [name, opts] of Object.entries(transports)) {
  describe(`token expiry over ${name}`, () => {
    test('one exception, then one "io server disconnect", and nothing stale after reconnecting', async () => {
      // A token of a few seconds (more if the machine is too loaded to
      // connect with it in time); the test then waits for the expiry's
      // events, not for a time.
      const seen = [];
      const { socket: s } = await connectBeforeExpiry(
        (ttl) => srv.token({ sub: `expiry-${name}`, role: 'client', providers: '42', ttl }),
        (token) => {
          const s = io(srv.url, { ...opts, auth: { token }, forceNew: true });
          sockets.push(s);
          s.on('exception', (e) => seen.push(['exception', e.message]));
          s.on('disconnect', (reason) => seen.push(['disconnect', reason]));
          return s;
        },
      );
      const [reason] = await waitFor(s, 'disconnect', 3 * 80_000); // the longest token, and more
      assert.equal(reason, 'io server disconnect');

      // Reconnect with a fresh token, and make a round trip: anything left
      // over from the expired connection would arrive before its answer.
      s.auth = { token: await srv.token({ sub: `expiry-${name}`, role: 'client', providers: '42', ttl: '1h' }) };
      s.connect();
      await waitFor(s, 'connect');
      const [ack] = await emitWithAck(s, 'joinRoom', 'provider-42');
      assert.equal(ack.status, 'ok');

      assert.deepEqual(seen, [
        ['exception', 'token expired'],
        ['disconnect', 'io server disconnect'],
      ], `events seen: ${JSON.stringify(seen)}\n--- server output ---\n${srv.output().slice(-4000)}`);
      assert.equal(s.io.engine.transport.name, name);
    });
  });
}
