// Starts `eventide conformance` (the server configuration the official
// protocol test suites expect) on a free loopback port.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startConformance() {
  const bin = process.env.EVENTIDE_BIN || path.join(repo, 'bin', 'eventide');
  const port = await freePort();
  const child = spawn(bin, ['conformance', '--addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`conformance server did not start:\n${output}`)), 30_000);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`conformance server exited ${code}:\n${output}`)); });
    child.stdout.on('data', () => { if (output.includes('conformance server on')) { clearTimeout(timer); resolve(); } });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
