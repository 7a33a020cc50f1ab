// Runs the test suite again on PostgreSQL (CRMSYNC_TEST_DIALECT=postgres). On a laptop without
// PostgreSQL it says so and skips; in CI (CI=true) PostgreSQL is required.
import { spawnSync } from 'node:child_process';
import pg from 'pg';

const url = process.env.CRMSYNC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const shown = url.replace(/\/\/[^@/]*@/, '//…@');
try {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  await client.end();
} catch (error) {
  const reason = `PostgreSQL is not reachable at ${shown} (${error.message})`;
  if (process.env.CI) {
    console.error(`${reason}: CI requires it.`);
    process.exit(1);
  }
  console.warn(`\nSKIPPED the PostgreSQL run: ${reason}. Set CRMSYNC_TEST_POSTGRES_URL to run it.\n`);
  process.exit(0);
}
console.log(`\n== the suite again on PostgreSQL (${shown})\n`);
const run = spawnSync('npx', ['vitest', 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, CRMSYNC_TEST_DIALECT: 'postgres', CRMSYNC_TEST_POSTGRES_URL: url },
});
process.exit(run.status ?? 1);
