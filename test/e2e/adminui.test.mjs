// Browser test of the official Socket.IO admin UI (@socket.io/admin-ui 0.5.1,
// its built ui/dist unchanged, served by a tiny static server of this test on
// another origin) against eventide's /admin namespace (ADR 0025): Debian's
// Chromium driven by playwright-core logs in (a wrong password first: the UI
// shows "invalid credentials") and must show the test's sockets with their
// room provider-42 — on one node, then on two nodes on Redis (each adapter,
// a key prefix of this test's own) with the UI logged in to node A and the
// sockets on node B. Then a node client checks read-only refusals.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { io } from 'socket.io-client';

import { CHROMIUM, launchChromium } from './lib/browser.mjs';
import { binaryPath, startServer } from './lib/server.mjs';
import { emitWithAck, until } from './lib/wait.mjs';

const uiDist = fileURLToPath(new URL('./node_modules/@socket.io/admin-ui/ui/dist/', import.meta.url));
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const USER = 'admin';
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

/** The bcrypt hash of password, from `eventide hash-password`. */
function hashPassword(password) {
  return new Promise((resolve, reject) => {
    const child = execFile(binaryPath(), ['hash-password'], { env: { PATH: process.env.PATH } }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
    child.stdin.end(`${password}\n`);
  });
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml' };

/** Serves the admin UI's ui/dist on 127.0.0.1; resolves to its URL. */
async function serveUI(t) {
  const srv = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(uiDist, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => srv.close(r)));
  return `http://127.0.0.1:${srv.address().port}`;
}

/** A socket.io-client 4.8 socket of a client watching provider 42, in its room. */
async function watcher(t, srv, transports = ['websocket']) {
  const token = await srv.token({ sub: `w-${randomBytes(3).toString('hex')}`, role: 'client', providers: ['42'] });
  const socket = io(srv.url, { auth: { token }, transports, reconnection: false, forceNew: true });
  t.after(() => socket.close());
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const [ack] = await emitWithAck(socket, 'joinRoom', 'provider-42');
  assert.equal(ack.status, 'ok', JSON.stringify(ack));
  return socket;
}

async function launch(t) {
  const browser = await launchChromium();
  t.after(() => browser.close());
  return browser;
}

/**
 * Opens the UI in a new page and logs in to serverUrl: first with a wrong
 * password (the form must say "invalid credentials"), then the right one.
 */
async function openAndLogin(t, browser, uiUrl, serverUrl, name) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(30_000); // a guard: each step waits for what the page must show
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  // The page's fonts and icons come from CDNs: not in a test.
  await page.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
  await page.goto(uiUrl);
  const fill = async (password) => {
    await page.getByLabel('Server URL').fill(serverUrl);
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Connect' }).click();
  };
  await fill('not-the-password');
  await page.getByText('invalid credentials').waitFor();
  await fill(PASSWORD);
  await page.getByLabel('Server URL').waitFor({ state: 'hidden' });
  return { page, log };
}

/**
 * Runs steps; on failure saves a screenshot to artifacts/adminui-<name>-failure.png
 * and prints the page's log and the servers' output. On success it saves
 * artifacts/adminui-<name>.png.
 */
async function withArtifacts(name, page, log, servers, steps) {
  mkdirSync(artifacts, { recursive: true });
  try {
    await steps();
    await page.screenshot({ path: join(artifacts, `adminui-${name}.png`), fullPage: true });
  } catch (err) {
    await page.screenshot({ path: join(artifacts, `adminui-${name}-failure.png`), fullPage: true }).catch(() => {});
    console.error(`--- page log ---\n${log.join('\n')}`);
    for (const s of servers) console.error(`--- server output ---\n${s.output()}`);
    throw err;
  }
}

/** Shows route (e.g. "/rooms/") without reloading the page. */
async function show(page, route) {
  await page.evaluate((r) => {
    window.location.hash = `#${r}`;
  }, route);
}

/** Waits until the Sockets page lists id and its page lists provider-42. */
async function seeSocketInRoom(page, id) {
  await show(page, '/sockets/');
  await page.getByText(id, { exact: true }).waitFor();
  await show(page, '/rooms/');
  await page.getByText('provider-42', { exact: true }).first().waitFor();
  await show(page, `/n/${encodeURIComponent('/')}/sockets/${id}`);
  await page.getByText('provider-42', { exact: true }).first().waitFor();
}

test('the admin UI logs in to one node and shows its sockets in provider-42', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (scripts/ensure-deps.sh)`);
  assert.ok(existsSync(join(uiDist, 'index.html')), `${uiDist}index.html missing: npm ci in test/e2e`);
  const hash = await hashPassword(PASSWORD);
  const uiUrl = await serveUI(t);
  const srv = await startServer({ raw: false, args: ['--admin-ui-auth', `${USER}:${hash}`, '--admin-ui-server-id', 'solo'] });
  t.after(() => srv.stop());
  const a = await watcher(t, srv);
  const b = await watcher(t, srv);

  const browser = await launch(t);
  const started = Date.now();
  const { page, log } = await openAndLogin(t, browser, uiUrl, srv.url, 'one-node');
  console.log(`# one node: page loaded, refused and logged in in ${Date.now() - started} ms`);
  await withArtifacts('one-node', page, log, [srv], async () => {
    await seeSocketInRoom(page, a.id);
    await seeSocketInRoom(page, b.id);
    await show(page, '/servers/');
    await page.getByText('solo', { exact: true }).waitFor();
    console.log(`# one node: saw 2 sockets in provider-42 and the server ${Date.now() - started} ms after the page opened`);

    // Live (development mode): a socket connecting now appears too, on
    // long-polling first, then its upgrade to WebSocket.
    const c = await watcher(t, srv, ['polling', 'websocket']);
    await seeSocketInRoom(page, c.id);
    await until(() => c.io.engine.transport.name === 'websocket', 30_000, 'the upgrade');
    await show(page, '/sockets/');
    await page.locator('tr', { hasText: c.id }).filter({ hasText: 'WebSocket' }).waitFor();
  });
});

for (const adapter of ['redis', 'redis-streams']) {
  test(`the admin UI on node A shows node B's sockets and stats (--adapter ${adapter})`, { timeout: 180_000 }, async (t) => {
    const hash = await hashPassword(PASSWORD);
    const uiUrl = await serveUI(t);
    const key = `eventide-adminui-${randomBytes(4).toString('hex')}`;
    const common = ['--adapter', adapter, '--redis-key', key, '--admin-ui-auth', `${USER}:${hash}`];
    const jwtSecret = randomBytes(32).toString('hex');
    const nodeA = await startServer({ raw: false, jwtSecret, args: [...common, '--admin-ui-server-id', 'node-a'] });
    t.after(() => nodeA.stop());
    const nodeB = await startServer({ raw: false, jwtSecret, args: [...common, '--admin-ui-server-id', 'node-b'] });
    t.after(() => nodeB.stop());
    const onB = await watcher(t, nodeB);

    const browser = await launch(t);
    const started = Date.now();
    const { page, log } = await openAndLogin(t, browser, uiUrl, nodeA.url, `two-nodes-${adapter}`);
    console.log(`# two nodes (${adapter}): page loaded, refused and logged in in ${Date.now() - started} ms`);
    await withArtifacts(`two-nodes-${adapter}`, page, log, [nodeA, nodeB], async () => {
      await seeSocketInRoom(page, onB.id);
      await show(page, '/servers/');
      await page.getByText('node-a', { exact: true }).waitFor();
      await page.getByText('node-b', { exact: true }).waitFor();
      console.log(`# two nodes (${adapter}): node B's socket and both servers seen ${Date.now() - started} ms after the page opened`);

      // A socket joining on node B now shows up live in node A's UI.
      const late = await watcher(t, nodeB);
      await seeSocketInRoom(page, late.id);
      await show(page, '/servers/');
    });
  });
}

test('a read-only admin UI refuses commands; wrong credentials get connect_error', { timeout: 60_000 }, async (t) => {
  const hash = await hashPassword(PASSWORD);
  const srv = await startServer({ raw: false, args: ['--admin-ui-auth', `${USER}:${hash}`, '--admin-ui-readonly'] });
  t.after(() => srv.stop());
  const target = await watcher(t, srv);

  const admin = (auth) => {
    const s = io(`${srv.url}/admin`, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
    t.after(() => s.close());
    return s;
  };
  const bad = admin({ username: USER, password: 'wrong' });
  const err = await new Promise((resolve) => bad.once('connect_error', resolve));
  assert.equal(err.message, 'invalid credentials');

  const good = admin({ username: USER, password: PASSWORD });
  const config = await new Promise((resolve, reject) => {
    good.once('config', resolve);
    good.once('connect_error', reject);
  });
  assert.deepEqual(config.supportedFeatures, ['AGGREGATED_EVENTS', 'ALL_EVENTS']);
  const [ack] = await emitWithAck(good, 'join', '/', 'vip', target.id);
  assert.equal(ack.status, 'error');
  assert.match(ack.message, /read-only/);
  const [ack2] = await emitWithAck(good, '_disconnect', '/', true);
  assert.equal(ack2.status, 'error');
  // The target is still connected and not in "vip": a broadcast there does
  // not reach it, and it still answers.
  assert.ok(target.connected);
  const [pong] = await emitWithAck(target, 'leaveRoom', 'provider-42');
  assert.equal(pong.status, 'ok');
});
