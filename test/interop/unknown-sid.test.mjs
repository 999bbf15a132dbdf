// An unknown sid — a request of a session that another node holds, behind
// a load balancer without sticky sessions — answers what Node's socket.io
// 4.8 answers (issue 11, ADR 0027): status, content type and body, on a
// polling GET, a polling POST and a WebSocket upgrade, Engine.IO v4 and v3.
// Both servers run side by side and get the very same requests.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { Server } from 'socket.io';
import { startServer } from '../e2e/lib/server.mjs';

const cleanups = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

// One request; resolves {status, type, body, close} whatever the answer,
// an upgrade refused included.
function ask(base, method, query, { upgrade = false, origin } = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (origin) headers.origin = origin;
    if (upgrade) {
      Object.assign(headers, {
        connection: 'Upgrade', upgrade: 'websocket',
        'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      });
    }
    if (method === 'POST') headers['content-type'] = 'text/plain;charset=UTF-8';
    const req = request(new URL(`/socket.io/?${query}`, base), { method, headers, agent: false });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({
        status: res.statusCode,
        type: (res.headers['content-type'] ?? '').split(';')[0].toLowerCase(),
        body,
        close: res.headers.connection === 'close',
      }));
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, upgraded: true }); });
    req.on('error', reject);
    req.end(method === 'POST' ? '40' : undefined);
  });
}

test('an unknown sid answers as Node socket.io 4.8 does: polling GET and POST, WebSocket, EIO 4 and 3', async () => {
  const http = createServer();
  const io = new Server(http, { allowEIO3: true });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  cleanups.push(() => io.close());
  const node = `http://127.0.0.1:${http.address().port}`;
  const eventide = await startServer({ raw: false });
  cleanups.push(() => eventide.stop());

  const cases = [];
  for (const eio of [4, 3]) {
    cases.push(['GET', `EIO=${eio}&transport=polling&sid=nope`, {}]);
    cases.push(['POST', `EIO=${eio}&transport=polling&sid=nope`, {}]);
    cases.push(['GET', `EIO=${eio}&transport=websocket&sid=nope`, { upgrade: true }]);
  }
  for (const [method, query, opts] of cases) {
    for (const origin of [undefined, 'http://app.example']) {
      const want = await ask(node, method, query, { ...opts, origin });
      const got = await ask(eventide.url, method, query, { ...opts, origin });
      assert.equal(want.status, 400, `Node: ${method} ${query}: ${JSON.stringify(want)}`);
      assert.deepEqual(got, want, `${method} ${query}${origin ? ' from another origin' : ''}: eventide vs Node`);
    }
  }
  // What the client reads: the JSON error on polling, text on WebSocket.
  assert.deepEqual(JSON.parse((await ask(eventide.url, 'GET', 'EIO=4&transport=polling&sid=nope')).body),
    { code: 1, message: 'Session ID unknown' });
});
