#!/usr/bin/env node
// readme-check runs README.md's walkthrough ("## Five minutes with it") as
// written, against a fresh `./bin/eventide serve`, and fails when a command
// fails or prints something else than the README says.
//
// Every fenced block of that section follows a marker comment that says
// what to do with it:
//
//   <!-- check: skip (why) -->         not run (e.g. `make run`: this script
//                                      starts the server itself)
//   <!-- check: serve-stdout -->       what the server prints on stdout
//   <!-- check: run -->                shell commands, run in order in one
//                                      bash (variables carry over). The "# "
//                                      lines right under a command are its
//                                      output (stdout and stderr), line by
//                                      line; a command with none prints
//                                      nothing. A command ending in "&" runs
//                                      in the background; the lines under it
//                                      are the first it prints.
//   <!-- check: file NAME MODULE [like=OTHER] -->
//                                      a file to save as NAME, importing
//                                      socket.io-client from the npm package
//                                      MODULE of test/e2e; like=OTHER runs it
//                                      too wherever OTHER runs, expecting the
//                                      same output
//   <!-- check: output NAME -->        the next lines the background command
//                                      running NAME prints
//   <!-- check: ws -->                 a wscat session: "$ npx -y wscat -c
//                                      URL", "> " sent, "< " received
//
// In expected output, "..." stands for any text. localhost:8080 and
// localhost:7788 are replaced by the server's ports, picked free at start.
//
// It runs in a fresh directory where ./bin is the repository's bin, so
// ./data is fresh and ./bin/eventide is the one `make build` built. It needs
// node, bash and curl, and test/e2e/node_modules (`make test` installs it).
//
// Usage: node scripts/readme-check.mjs [README.md]

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const readmePath = resolve(process.argv[2] ?? join(root, 'README.md'));
const e2eModules = join(root, 'test/e2e/node_modules');
const SECTION = '## Five minutes with it';
// Generous bounds against a hang; nothing waits for a duration to pass.
const DEADLINE_MS = 30_000;

class CheckError extends Error {}
const fail = (line, msg) => {
  throw new CheckError(`README.md:${line}: ${msg}`);
};

/** The section's fenced blocks, each with its marker and line numbers. */
function parseSection(text) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === SECTION);
  if (start < 0) throw new CheckError(`README.md has no "${SECTION}" section`);
  const blocks = [];
  let marker = null;
  for (let i = start + 1; i < lines.length && !lines[i].startsWith('## '); i++) {
    const m = lines[i].match(/^<!-- check: (\S+)(.*?) -->$/);
    if (m) {
      marker = { kind: m[1], args: m[2].trim(), line: i + 1 };
      continue;
    }
    const fence = lines[i].match(/^```(\w*)$/);
    if (!fence) continue;
    const body = [];
    const first = i + 2;
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]);
    if (!marker) fail(first - 1, 'a block of the walkthrough without a <!-- check: ... --> marker');
    blocks.push({ ...marker, lang: fence[1], body, first });
    marker = null;
  }
  return blocks;
}

/** A pattern line of the README: "..." is any text, the rest literal. */
function matches(pattern, actual) {
  const re = pattern.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${re}$`, 's').test(actual);
}

function compare(where, expected, actual, what) {
  const bad = expected.length !== actual.length || expected.some((p, i) => !matches(p, actual[i]));
  if (bad) {
    fail(where, `${what} differs from the README.\n--- README\n${expected.join('\n')}\n--- actual\n${actual.join('\n')}`);
  }
}

/** The lines of text that are complete (a last one without its newline
 * may still be being written). */
function completeLines(text) {
  const lines = text.split('\n');
  lines.pop();
  return lines;
}

/** Splits a run block into commands (joining "\" continuations) and the
 * "# " output lines under each. */
function commands(block) {
  const cmds = [];
  let cur = null;
  let continued = false;
  block.body.forEach((line, i) => {
    const at = block.first + i;
    if (continued) {
      cur.text += '\n' + line;
      continued = line.endsWith('\\');
      return;
    }
    if (line.startsWith('# ') || line === '#') {
      if (cur && !cur.closed) cur.expect.push(line.slice(2));
      return;
    }
    if (cur) cur.closed = true;
    if (line.trim() === '') return;
    cur = { text: line, expect: [], line: at, closed: false };
    cmds.push(cur);
    continued = line.endsWith('\\');
  });
  return cmds;
}

async function waitFor(what, cond) {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new CheckError(`gave up waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One bash process the run blocks are fed to, so variables carry over. */
class Shell {
  constructor(cwd, env) {
    this.proc = spawn('bash', ['--noprofile', '--norc'], { cwd, env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.out = '';
    this.proc.stdout.on('data', (d) => (this.out += d));
    this.n = 0;
  }

  /** Runs text; returns its output lines (stdout and stderr) and status. */
  async run(text) {
    const mark = `__readme_check_${++this.n}__`;
    this.proc.stdin.write(`{\n${text}\n} </dev/null 2>&1\nprintf '\\n${mark} %d\\n' $?\n`);
    const re = new RegExp(`\\n${mark} (\\d+)\\n`);
    const m = await waitFor(`the command to finish:\n${text}`, () => this.out.match(re));
    const output = this.out.slice(0, m.index);
    this.out = this.out.slice(m.index + m[0].length);
    const lines = output.split('\n');
    while (lines.length && lines.at(-1) === '') lines.pop();
    return { lines, status: Number(m[1]) };
  }

  close() {
    this.proc.stdin.end();
  }
}

async function main() {
  const blocks = parseSection(await readFile(readmePath, 'utf8'));
  const bin = join(root, 'bin/eventide');
  if (!existsSync(bin)) throw new CheckError(`${bin} is missing: run make build`);
  const work = await mkdtemp(join(tmpdir(), 'eventide-readme-'));
  await symlink(join(root, 'bin'), join(work, 'bin'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTIDE_')));
  const cleanups = [];
  try {
    // The server, as make run starts it, on free ports.
    const server = spawn('./bin/eventide', ['serve', '--addr', '127.0.0.1:0', '--raw-addr', '127.0.0.1:0', '--admin-addr', ''], {
      cwd: work,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let exited = null;
    server.stdout.on('data', (d) => (stdout += d));
    server.stderr.on('data', (d) => (stderr += d));
    const done = new Promise((res) => server.on('exit', (code, signal) => res((exited = { code, signal }))));
    cleanups.push(async () => {
      if (exited) return;
      server.kill('SIGTERM');
      let timer;
      const r = await Promise.race([done, new Promise((res) => (timer = setTimeout(() => res(null), DEADLINE_MS)))]);
      clearTimeout(timer);
      if (r === null) server.kill('SIGKILL');
    });
    const addrs = await waitFor('the server to listen', () => {
      if (exited) throw new CheckError(`eventide serve exited (${JSON.stringify(exited)}):\n${stderr}`);
      const http = stderr.match(/listener=http addr=(\S+)/);
      const raw = stderr.match(/listener=rawws addr=(\S+)/);
      return http && raw && { http: http[1], raw: raw[1] };
    });
    await waitFor('/healthz', async () => {
      try {
        return (await fetch(`http://${addrs.http}/healthz`)).status === 200;
      } catch {
        return false;
      }
    });
    const local = (s) => s.replaceAll('localhost:8080', addrs.http).replaceAll('localhost:7788', addrs.raw);

    const shell = new Shell(work, env);
    cleanups.push(async () => shell.close());
    const files = new Map(); // README name -> {path, like}
    const background = []; // {name, log, seen}
    const bgPids = [];
    cleanups.push(async () => {
      for (const pid of bgPids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {}
      }
    });
    const bgLines = async (bg) => completeLines(await readFile(bg.log, 'utf8').catch(() => ''));
    // The next lines of a background command: compared as they come, so a
    // wrong one fails at once rather than at the deadline.
    const expectLines = async (where, bg, expect, what) => {
      const want = bg.seen + expect.length;
      let lines = [];
      const waiting = () => `${bg.file} to print ${expect.length} more lines; it printed:\n${lines.slice(bg.seen).join('\n')}`;
      await waitFor(waiting, async () => {
        lines = await bgLines(bg);
        const got = lines.slice(bg.seen, want);
        if (got.some((l, i) => !matches(expect[i], l))) compare(where, expect, got, what);
        return lines.length >= want;
      });
      bg.seen = want;
    };
    let checked = 0;

    for (const b of blocks) {
      switch (b.kind) {
        case 'skip':
          break;
        case 'serve-stdout': {
          const lines = await waitFor('the server to print its stdout', () => {
            const l = completeLines(stdout);
            return l.length >= b.body.length && l;
          });
          compare(b.first, b.body, lines, 'what eventide serve prints on stdout');
          break;
        }
        case 'file': {
          const [name, module, like] = b.args.split(/\s+/);
          if (!name || !module) fail(b.line, 'file needs NAME MODULE');
          const dir = join(work, module);
          await mkdir(join(dir, 'node_modules'), { recursive: true });
          if (!existsSync(join(dir, 'node_modules/socket.io-client'))) {
            await symlink(join(e2eModules, module), join(dir, 'node_modules/socket.io-client'));
          }
          await writeFile(join(dir, name), local(b.body.join('\n')) + '\n');
          files.set(name, { path: `${module}/${name}`, like: like?.replace(/^like=/, '') });
          break;
        }
        case 'run':
          for (const c of commands(b)) {
            let text = local(c.text);
            if (text.trimEnd().endsWith('&')) {
              // A background command: itself, and every file "like" the one
              // it runs, each with its output in a log of its own.
              const named = [...files.keys()].find((n) => text.includes(n));
              if (!named) fail(c.line, 'a background command that runs no file of the README');
              const runs = [[named, files.get(named).path]];
              for (const [n, f] of files) if (f.like === named) runs.push([n, f.path]);
              for (const [n, path] of runs) {
                const log = join(work, `${n}.log`);
                const cmd = text.trimEnd().slice(0, -1).replace(named, path);
                const r = await shell.run(`${cmd} >${JSON.stringify(log)} 2>&1 &\necho $!`);
                bgPids.push(Number(r.lines.at(-1)));
                background.push({ name: named, file: n, log, seen: 0 });
              }
              for (const bg of background.filter((x) => x.name === named)) {
                await expectLines(c.line, bg, c.expect, `what ${bg.file} prints first`);
              }
            } else {
              const r = await shell.run(text);
              if (r.status !== 0) fail(c.line, `exit status ${r.status}:\n${c.text}\n${r.lines.join('\n')}`);
              compare(c.line, c.expect, r.lines, `the output of\n${c.text}\n`);
            }
            checked++;
          }
          break;
        case 'output': {
          const runs = background.filter((x) => x.name === b.args);
          if (runs.length === 0) fail(b.line, `no background command runs ${b.args}`);
          for (const bg of runs) await expectLines(b.first, bg, b.body, `what ${bg.file} prints`);
          break;
        }
        case 'ws':
          await checkWs(b, local);
          break;
        default:
          fail(b.line, `unknown check "${b.kind}"`);
      }
    }
    // Nothing printed after what the README shows (a refusal, an exception).
    for (const bg of background) {
      const lines = await bgLines(bg);
      if (lines.length !== bg.seen) fail(blocks.at(-1).line, `${bg.file} printed more than the README shows:\n${lines.slice(bg.seen).join('\n')}`);
    }
    if (checked === 0) throw new CheckError('no command of the README was run');
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
    if (exited && exited.code !== 0) throw new CheckError(`eventide serve exited with ${JSON.stringify(exited)}`);
    console.log(`readme-check: ${checked} commands of ${readmePath} ran as written; the walkthrough holds`);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

/** A wscat session of the README, over the ws package. */
async function checkWs(b, local) {
  const cmd = b.body.find((l) => l.startsWith('$ '));
  const m = cmd?.match(/^\$ npx (-y )?wscat -c (\S+)$/);
  if (!m) fail(b.first, 'a ws block starts with "$ npx -y wscat -c URL"');
  if (!m[1]) fail(b.first, 'npx asks before it installs wscat: write npx -y');
  const WebSocket = createRequire(join(e2eModules, 'x.js'))('ws');
  const ws = new WebSocket(local(m[2]));
  const received = [];
  ws.on('message', (d) => received.push(String(d)));
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  let want = 0;
  for (const line of b.body) {
    if (line.startsWith('> ')) ws.send(line.slice(2));
    if (line.startsWith('< ')) {
      want++;
      await waitFor('a WebSocket message', () => received.length >= want);
      compare(b.first, [line.slice(2)], [received[want - 1]], 'a WebSocket message');
    }
  }
  ws.close();
}

main().catch((err) => {
  console.error(err instanceof CheckError ? `readme-check: ${err.message}` : err);
  process.exit(1);
});
