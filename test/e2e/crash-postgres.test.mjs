// The crash test of crash.test.mjs (SIGKILL after a commit and before the
// publish; restart on the same database; the client gets the change once,
// with its seq), run on PostgreSQL: the same file, in a child test runner,
// with $EVENTIDE_E2E_DATABASE_URL naming a fresh database of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scratchDatabase } from './lib/postgres.mjs';

const here = dirname(fileURLToPath(import.meta.url));

test('the crash test passes on PostgreSQL', async (t) => {
  const db = await scratchDatabase();
  t.after(() => db.drop());
  // A runner of its own, not a child of this one (which would skip it).
  const env = { ...process.env, EVENTIDE_E2E_DATABASE_URL: db.url };
  delete env.NODE_TEST_CONTEXT;
  const { code, output } = await new Promise((resolve) => {
    execFile(process.execPath, ['--test', '--test-reporter=tap', join(here, 'crash.test.mjs')], {
      cwd: here,
      env,
      timeout: 120_000,
      maxBuffer: 16 << 20,
    }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, output: stdout + stderr }));
  });
  assert.equal(code, 0, `crash.test.mjs on PostgreSQL failed:\n${output}`);
  assert.match(output, /^# pass 1$/m, `crash.test.mjs ran no test on PostgreSQL:\n${output}`);
  // It did run on this database: the two changes are in its event log.
  assert.equal(await db.query("SELECT string_agg(action || ':' || seq, ' ' ORDER BY seq) FROM events WHERE provider_id = '42'"),
    'created:1 updated:2');
});
