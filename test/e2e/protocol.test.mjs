// The protocol engine against the real socket.io-client from npm: 4.8
// (Engine.IO v4 / Socket.IO v5) and 2.5.0 (Engine.IO v3 / Socket.IO v4), each
// over WebSocket only, polling only, and polling-then-upgrade. The server is
// `eventide conformance`, whose handlers are those of the protocol suites'
// reference server plus "join" and "broadcast" for rooms.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { io as io4 } from 'socket.io-client';
import io2 from 'socket.io-client-v2';
import { startConformance } from './lib/conformance.mjs';
import { waitFor, emitWithAck, until, sleep } from './lib/wait.mjs';

let server;
before(async () => { server = await startConformance(); });
after(async () => { await server?.stop(); });

const modes = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'], upgrade: false },
  upgrade: {}, // the default: polling first, then upgrade to WebSocket
};

// What the server's "auth" event carries for a token: the CONNECT auth
// payload for 4.x; for 2.x, as with Node, the automatic "/" connection has
// an empty auth (the token travels in the handshake query, which the
// server-side tests of the JWT handshake exercise).
const authOf = { '4.8': (token) => ({ token }), '2.5.0': () => ({}) };

const clients = {
  '4.8': (path, opts, token) =>
    io4(server.url + path, { ...opts, auth: { token }, forceNew: true, reconnection: false }),
  '2.5.0': (path, opts, token) =>
    io2(server.url + path, { ...opts, query: { token }, forceNew: true, reconnection: false }),
};

for (const [version, connect] of Object.entries(clients)) {
  for (const [mode, opts] of Object.entries(modes)) {
    describe(`socket.io-client ${version} over ${mode}`, () => {
      const open = [];
      const dial = async (token, path = '/') => {
        const s = connect(path, opts, token);
        open.push(s);
        // The server emits "auth" with the handshake auth as soon as the
        // socket is connected, so wait for both.
        const [[auth]] = await Promise.all([waitFor(s, 'auth'), waitFor(s, 'connect')]);
        return { s, auth };
      };
      after(() => { for (const s of open) s.close(); });

      test('connects with its auth payload and emits with an ack', async () => {
        const { s, auth } = await dial(`tok-${version}-${mode}`);
        assert.deepEqual(auth, authOf[version](`tok-${version}-${mode}`));
        const reply = await emitWithAck(s, 'message-with-ack', 1, '2', { three: [4, true, null] });
        assert.deepEqual(reply, [1, '2', { three: [4, true, null] }]);
        if (mode === 'upgrade') {
          await until(() => s.io.engine.transport.name === 'websocket', undefined, 'the upgrade to websocket');
        } else {
          assert.equal(s.io.engine.transport.name, mode === 'polling' ? 'polling' : 'websocket');
        }
      });

      test('joins a room through a server handler and receives the room broadcast, once', async () => {
        const room = `room-${version}-${mode}`;
        const { s: member } = await dial('member');
        const { s: outsider } = await dial('outsider');
        const rooms = (await emitWithAck(member, 'join', room, room + '-b'))[0];
        assert.ok(rooms.includes(room), `rooms after join: ${rooms}`);
        const gotMember = [];
        const gotOutsider = [];
        member.on('news', (x) => gotMember.push(x));
        outsider.on('news', (x) => gotOutsider.push(x));
        // Broadcast to both rooms the member is in: it must arrive once.
        await emitWithAck(outsider, 'broadcast', room, 'news', { n: 1, text: 'héllo' });
        await until(() => gotMember.length >= 1, undefined, 'the room broadcast');
        await sleep(150);
        assert.deepEqual(gotMember, [{ n: 1, text: 'héllo' }]);
        assert.deepEqual(gotOutsider, []);
      });

      test('gets a binary payload back intact', async () => {
        const { s } = await dial('bin');
        const bytes = Buffer.from([0, 1, 2, 253, 254, 255, 10, 13, 0x1e]);
        const big = Buffer.alloc(64 * 1024, 7);
        const back = waitFor(s, 'message-back');
        s.emit('message', bytes, { nested: big, label: 'x' });
        const [a, b] = await back;
        assert.ok(Buffer.isBuffer(a) || a instanceof ArrayBuffer, 'first argument is binary');
        assert.deepEqual(Buffer.from(a), bytes);
        assert.equal(b.label, 'x');
        assert.deepEqual(Buffer.from(b.nested), big);
      });

      test('sees a clean disconnect', async () => {
        const { s } = await dial('bye');
        const reason = waitFor(s, 'disconnect');
        s.disconnect();
        assert.equal((await reason)[0], 'io client disconnect');
        assert.equal(s.connected, false);
        // The server is alive and takes the next client.
        const { auth } = await dial('after-bye');
        assert.deepEqual(auth, authOf[version]('after-bye'));
      });

      test('a custom namespace connects, an unknown one is refused', async () => {
        const { auth } = await dial('custom', '/custom');
        assert.equal(auth.token, 'custom');
        const s = connect('/nope', opts, 'x');
        open.push(s);
        // 4.x reports CONNECT_ERROR as connect_error; 2.x as "error".
        const [err] = await waitFor(s, version === '4.8' ? 'connect_error' : 'error');
        assert.match(String(err?.message ?? err), /Invalid namespace/);
      });
    });
  }
}
