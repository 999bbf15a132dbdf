// A PostgreSQL database of a test's own, on the server the Go tests use:
// $EVENTIDE_TEST_POSTGRES_URL, or the local one (`make deps` starts it).
// Created and dropped with psql; the name has the prefix the Go helper
// (postgres.NewScratchDatabase) uses, so a database left by a killed run is
// dropped by a later one.
//
//   const db = await scratchDatabase();
//   ... startServer({ args: ['--database-url', db.url] }) ...
//   await db.drop();

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** The server the tests use. */
export function postgresServerURL() {
  return process.env.EVENTIDE_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable';
}

async function psql(server, sql) {
  try {
    const { stdout } = await execFileP('psql', ['-q', '-At', '-v', 'ON_ERROR_STOP=1', server, '-c', sql], { timeout: 30_000 });
    return stdout.trim();
  } catch (err) {
    throw new Error(`psql ${sql}: ${err.stderr || err.message} (set EVENTIDE_TEST_POSTGRES_URL to use another server)`);
  }
}

/**
 * Creates an empty database; query(sql) runs SQL in it; drop() removes it
 * with any open connection.
 */
export async function scratchDatabase() {
  const server = postgresServerURL();
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const name = `eventide_scratch_${stamp}_${randomBytes(6).toString('hex')}`;
  await psql(server, `CREATE DATABASE ${name} TEMPLATE template0`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    /** Runs sql in the database and returns psql's unaligned output. */
    query: (sql) => psql(url.toString(), sql),
    async drop() {
      if (dropped) return;
      dropped = true;
      await psql(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
