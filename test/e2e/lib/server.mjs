// Shared harness of the end-to-end tests: starts a real eventide binary on
// free ports with a throw-away database and secret, mints tokens with the
// binary's own `token` command, and stops it cleanly.
//
//   import { startServer } from './lib/server.mjs';
//   const srv = await startServer();
//   const token = await srv.token({ sub: 'p42', role: 'provider', providerId: '42' });
//   ... io(srv.url, { auth: { token } }) ...
//   await srv.stop();
//
// The binary is $EVENTIDE_BIN or <repo>/bin/eventide (`make build`).

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** The repository root (test/e2e/lib -> ../../..). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where the built dashboard lives, as the server's --web-dir default. */
export const webDist = join(repoRoot, 'web', 'dist', 'eventide-web', 'browser');

/** The server binary the tests run. */
export function binaryPath() {
  return process.env.EVENTIDE_BIN || join(repoRoot, 'bin', 'eventide');
}

const HEALTH_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Starts the server.
 *
 * @param {object} [opts]
 * @param {'dev'|'production'} [opts.env='dev']  --env
 * @param {string} [opts.webDir]                 --web-dir (default: <repo>/web/dist/eventide-web/browser)
 * @param {string[]} [opts.corsOrigins]          --cors-origins a,b
 * @param {string} [opts.jwtSecret]              the HS256 secret (default: random per server)
 * @param {boolean} [opts.raw=true]              start the plain WebSocket listener (--raw-addr)
 * @param {string[]} [opts.args]                 more `serve` flags, e.g. ['--ping-interval', '300ms']
 * @param {Record<string,string>} [opts.envVars] more environment variables for the process
 * @param {string} [opts.bin]                    the binary (default binaryPath(); e.g. bin/eventide-faults)
 * @param {string} [opts.databaseUrl]            --database-url (default: a SQLite file in the server's own data dir)
 * @param {number} [opts.port]                   the HTTP port (default: a free one), e.g. to restart on the same URL
 * @returns {Promise<{url: string, rawUrl: string|null, secret: string, dataDir: string,
 *   token: (claims: {sub?: string, role: string, providerId?: string, providers?: string[]|string, ttl?: string}) => Promise<string>,
 *   output: () => string, stop: () => Promise<void>}>}
 */
export async function startServer(opts = {}) {
  const bin = opts.bin ?? binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`server binary ${bin} not found: run \`make build\` (or set EVENTIDE_BIN)`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'eventide-e2e-'));
  const secret = opts.jwtSecret ?? randomBytes(32).toString('hex');
  const port = opts.port ?? await freePort();
  const rawPort = opts.raw === false ? null : await freePort();

  const args = [
    'serve',
    '--addr', `127.0.0.1:${port}`,
    '--raw-addr', rawPort === null ? '' : `127.0.0.1:${rawPort}`,
    '--data-dir', dataDir,
    '--database-url', opts.databaseUrl ?? join(dataDir, 'eventide.db'),
    '--jwt-secret', secret,
    '--env', opts.env ?? 'dev',
    '--web-dir', opts.webDir ?? webDist,
    '--log-level', 'debug',
  ];
  if (opts.corsOrigins?.length) args.push('--cors-origins', opts.corsOrigins.join(','));
  if (opts.args) args.push(...opts.args);

  // Only what the server needs from our environment: no stray EVENTIDE_*
  // variable of the developer's shell changes the test.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, EVENTIDE_JWT_SECRET: secret, ...opts.envVars };

  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const watchers = new Set(); // waitOutput's pending waits
  const keep = (chunk) => {
    out += chunk.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000); // bounded
    for (const w of watchers) w();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exitedP = new Promise((res) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      res(exited);
    });
    child.on('error', (err) => {
      exited = { code: null, signal: null, error: err };
      res(exited);
    });
  });

  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exited === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exitedP;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await waitHealthy(url, () => exited);
  } catch (err) {
    await stop();
    throw new Error(`${err.message}\n--- server output ---\n${out}`);
  }

  return {
    url,
    rawUrl: rawPort === null ? null : `ws://127.0.0.1:${rawPort}/`,
    secret,
    dataDir,
    /** Everything the server printed so far (print it when a test fails). */
    output: () => out,
    /** Exit status once the process has ended, else null. */
    exitStatus: () => exited,
    /** The process id (to signal it). */
    pid: child.pid,
    /** Sends signal to the process and, for SIGKILL, waits until it has exited. */
    async kill(signal) {
      if (exited !== null) return;
      child.kill(signal);
      if (signal === 'SIGKILL') await exitedP;
    },
    /**
     * Resolves once the output contains text (printed since the start), or
     * rejects after ms, a guard against a hang.
     */
    waitOutput(text, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!out.includes(text)) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`no "${text}" in the server output within ${ms} ms:\n${out}`));
        }, ms);
        watchers.add(check);
        check();
      });
    },
    token: (claims) => mintToken(bin, secret, claims),
    stop,
  };
}

/**
 * Mints a token with `eventide token`, signed with secret.
 * providers may be an array or a string ("*" or "42,43").
 */
export async function mintToken(bin, secret, { sub = 'e2e', role, providerId, providers, ttl } = {}) {
  if (!role) throw new Error('token: role is required');
  const args = ['token', '--sub', sub, '--role', role];
  if (providerId !== undefined) args.push('--provider-id', String(providerId));
  if (providers !== undefined) args.push('--providers', Array.isArray(providers) ? providers.join(',') : String(providers));
  if (ttl !== undefined) args.push('--ttl', String(ttl));
  const { stdout } = await execFileP(bin, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, EVENTIDE_JWT_SECRET: secret },
    timeout: 30_000,
  });
  return stdout.trim();
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

async function waitHealthy(url, exitedNow) {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const ex = exitedNow();
    if (ex !== null) {
      throw new Error(`server exited before it was healthy (${ex.error ? ex.error.message : `code ${ex.code}, signal ${ex.signal}`})`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not healthy at ${url}/healthz within ${HEALTH_TIMEOUT_MS / 1000} s (last: ${last})`);
}
