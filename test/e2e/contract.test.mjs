// The TypeScript side of the contracts (ADR 0021): web/src/app/contract/eventide-contract.ts is generated
// from api/openapi.yaml and api/asyncapi.yaml (web/scripts/contract.mjs) and must match them; a contract
// change that reaches the generated types must break the dashboard's compilation where the dashboard no
// longer fits; the snippets of docs/angular.md (web/examples/) must type-check against the types, the
// ngx-socket-io one included (its config type lacks `auth`); and that snippet's way of passing the token
// must get a socket through the real server's handshake with ngx-socket-io itself.
//
// Needs web/node_modules (`make web`). Without it the test is skipped locally and fails in CI (CI set).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { repoRoot, startServer } from './lib/server.mjs';
import { until, GUARD_MS } from './lib/wait.mjs';

const execFileP = promisify(execFile);

const web = join(repoRoot, 'web');
const api = join(repoRoot, 'api');
const generator = join(web, 'scripts', 'contract.mjs');
const tsc = join(web, 'node_modules', 'typescript', 'bin', 'tsc');
const installed = existsSync(tsc) && existsSync(join(web, 'node_modules', 'json-schema-to-typescript'));
const skip =
  !installed && !process.env.CI
    ? 'web/node_modules missing: run `make web`; in CI this test fails instead'
    : false;

/** Runs node with args; resolves with {code, out} whatever the exit code. */
async function run(cmd, args, opts = {}) {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { cwd: web, maxBuffer: 16 << 20, ...opts });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    if (typeof err.code !== 'number') throw err;
    return { code: err.code, out: `${err.stdout}${err.stderr}` };
  }
}

/** A copy of api/ in a temporary directory, with edit applied to the text of one file. */
async function alteredApi(t, file, edit) {
  const dir = await mkdtemp(join(tmpdir(), 'eventide-contract-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(api, dir, { recursive: true });
  const path = join(dir, file);
  const before = await readFile(path, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `the edit of ${file} changed nothing`);
  await writeFile(path, after);
  return dir;
}

test('the generated contract types match api/openapi.yaml and api/asyncapi.yaml', { skip }, async () => {
  assert.ok(installed, 'web/node_modules missing (run `make web`)');
  const { code, out } = await run(process.execPath, [generator, '--check']);
  assert.equal(code, 0, out);
  assert.match(out, /matches the contracts/);
});

test('a contract change that was not regenerated fails the check, naming the fix', { skip }, async (t) => {
  assert.ok(installed, 'web/node_modules missing (run `make web`)');
  const dir = await alteredApi(t, 'asyncapi.yaml', (s) =>
    s.replace(
      '        room:\n          $ref: "#/components/schemas/RoomName"\n    RoomAck:',
      '        room:\n          $ref: "#/components/schemas/RoomName"\n        at:\n          type: string\n    RoomAck:',
    ),
  );
  const { code, out } = await run(process.execPath, [generator, '--check', '--api', dir]);
  assert.equal(code, 1, out);
  assert.match(out, /eventide-contract\.ts is out of date/);
  assert.match(out, /npm run contract/);
});

test('an invalid AsyncAPI document stops the generation', { skip }, async (t) => {
  assert.ok(installed, 'web/node_modules missing (run `make web`)');
  const dir = await alteredApi(t, 'asyncapi.yaml', (s) => s.replace('action: send', 'action: emit'));
  const { code, out } = await run(process.execPath, [generator, '--check', '--api', dir]);
  assert.equal(code, 1, out);
  assert.match(out, /asyncapi\.yaml is not a valid AsyncAPI document/);
  assert.match(out, /operations\.availabilityUpdated\.action/);
});

test('a payload change breaks the dashboard\'s compilation, not a user\'s screen', { skip, timeout: 120_000 }, async (t) => {
  assert.ok(installed, 'web/node_modules missing (run `make web`)');
  // Change's seq renamed in the REST contract, which the availabilityUpdated payload refers to.
  const dir = await alteredApi(t, 'openapi.yaml', (s) =>
    s.replace('required: [action, providerId, slot, seq, at]', 'required: [action, providerId, slot, sequence, at]')
      .replace(
        '        seq: { type: integer, format: int64, minimum: 1, description: The provider\'s seq after this change. }',
        '        sequence: { type: integer, format: int64, minimum: 1 }',
      ),
  );
  // The dashboard's sources with the types generated from the changed contract.
  const copy = await mkdtemp(join(tmpdir(), 'eventide-dashboard-src-'));
  t.after(() => rm(copy, { recursive: true, force: true }));
  await cp(join(web, 'src'), join(copy, 'src'), { recursive: true });
  for (const f of ['tsconfig.json', 'tsconfig.app.json']) await cp(join(web, f), join(copy, f));
  await symlink(join(web, 'node_modules'), join(copy, 'node_modules'), 'dir');
  const gen = await run(process.execPath, [generator, '--api', dir, '--out', join(copy, 'src/app/contract/eventide-contract.ts')]);
  assert.equal(gen.code, 0, gen.out);

  const broken = await run(process.execPath, [tsc, '-p', join(copy, 'tsconfig.app.json'), '--noEmit']);
  assert.notEqual(broken.code, 0, 'the dashboard compiled against a Change without seq');
  assert.match(broken.out, /availability\.component\.ts.*Property 'seq' does not exist on type 'Change'/);

  // The same copy with the real contract compiles: the failure is the change's.
  const fixed = await run(process.execPath, [generator, '--out', join(copy, 'src/app/contract/eventide-contract.ts')]);
  assert.equal(fixed.code, 0, fixed.out);
  const ok = await run(process.execPath, [tsc, '-p', join(copy, 'tsconfig.app.json'), '--noEmit']);
  assert.equal(ok.code, 0, ok.out);
});

test('the snippets of docs/angular.md type-check against the contract, ngx-socket-io\'s included', { skip, timeout: 120_000 }, async () => {
  assert.ok(installed, 'web/node_modules missing (run `make web`)');
  const { code, out } = await run(process.execPath, [tsc, '-p', join(web, 'tsconfig.examples.json')]);
  assert.equal(code, 0, out);
});

// The ngx-socket-io snippet itself (web/examples/ngx-socket-io.ts), transpiled and run in Node against the
// real server: Angular's injector builds its services, ngx-socket-io's Socket connects with the token its
// `auth` function gives, joins a room and receives a change made over REST through fromEvent; a room the
// token may not watch is refused with the server's message, on the ack and on exceptions$.
test('the ngx-socket-io snippet connects with its token, joins, and receives typed events', { skip, timeout: 60_000 }, async (t) => {
  assert.ok(installed, 'web/node_modules missing (run `make web`)');
  const dir = await mkdtemp(join(tmpdir(), 'eventide-ngx-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(web, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const { default: ts } = await import(pathToFileURL(join(web, 'node_modules', 'typescript', 'lib', 'typescript.js')).href);
  const source = await readFile(join(web, 'examples', 'ngx-socket-io.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, experimentalDecorators: true },
  });
  await writeFile(join(dir, 'ngx-socket-io.mjs'), outputText);
  // The services need an injector and, without a build step, Angular's JIT compiler.
  await writeFile(
    join(dir, 'app.mjs'),
    `import '@angular/compiler';
import { ApplicationRef, Injector, createEnvironmentInjector } from '@angular/core';
import { AuthTokens, EventideSocket, ProviderFeed } from './ngx-socket-io.mjs';
export function app() {
  const injector = createEnvironmentInjector(
    [AuthTokens, EventideSocket, ProviderFeed, { provide: ApplicationRef, useValue: { tick() {} } }],
    Injector.create({ providers: [] }),
  );
  return { tokens: injector.get(AuthTokens), socket: injector.get(EventideSocket), feed: injector.get(ProviderFeed) };
}
`,
  );
  const { app } = await import(pathToFileURL(join(dir, 'app.mjs')).href);

  const srv = await startServer({ raw: false });
  t.after(() => srv.stop());
  const provider = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });

  // The snippet connects to window.location.origin, as in a browser.
  globalThis.window = { location: { origin: srv.url } };
  let made;
  try {
    made = app();
  } finally {
    delete globalThis.window;
  }
  const { tokens, socket, feed } = made;
  t.after(() => socket.disconnect());
  const changes = [];
  const exceptions = [];
  const subs = [feed.changes$.subscribe((c) => changes.push(c)), feed.exceptions$.subscribe((e) => exceptions.push(e))];
  t.after(() => subs.forEach((s) => s.unsubscribe()));

  tokens.token.set(provider);
  const connected = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connect within ${GUARD_MS} ms`)), GUARD_MS);
    socket.ioSocket.once('connect', () => resolve(clearTimeout(timer)));
    socket.ioSocket.once('connect_error', (err) => reject(new Error(`handshake refused: ${err.message}`)));
  });
  feed.start();
  await connected;

  assert.deepEqual(await feed.join('42'), { status: 'ok', room: 'provider-42' });
  const res = await fetch(`${srv.url}/api/v1/providers/42/slots`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${provider}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ start: '2030-01-01T09:00:00Z', end: '2030-01-01T10:00:00Z', note: 'ngx' }),
  });
  assert.equal(res.status, 201, await res.text());
  await until(() => changes.length === 1, undefined, 'availabilityUpdated through fromEvent');
  assert.equal(changes[0].action, 'created');
  assert.equal(changes[0].seq, 1);
  assert.equal(changes[0].slot.note, 'ngx');

  const refused = await feed.join('43');
  assert.deepEqual(refused, { status: 'error', message: 'forbidden: not allowed to join provider-43' });
  await until(() => exceptions.length === 1, undefined, 'the exception');
  assert.deepEqual(exceptions[0].cause, { event: 'joinRoom', room: 'provider-43' });
});
