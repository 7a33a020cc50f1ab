import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { openDatabase, type Db } from '../src/store/database.js';
import { listUsers } from '../src/store/users.js';
import { testDatabase } from './support/database.js';

/**
 * `crmsync import` as an operator runs it: a real process, its output (plain lines: stdout is a
 * pipe here, not a terminal), Ctrl-C and kill -9 in the middle, --list and --undo.
 */
let sandbox: Sandbox;
let database: Awaited<ReturnType<typeof testDatabase>>;
let db: Db | null = null;
afterEach(async () => {
  await db?.destroy();
  db = null;
  await sandbox?.close();
  await database?.cleanup();
});

async function setup(options: { latencyMs?: number; contacts?: number } = {}) {
  database = await testDatabase();
  sandbox = await startSandbox({ port: 0, rateLimit: 0, latencyMs: options.latencyMs ?? 0, seed: false });
  for (let i = 1; i <= (options.contacts ?? 8); i++) sandbox.state.createContact({ email: `c${i}@example.com`, tags: i % 2 ? ['odd'] : ['even'] }, 'seed');
}

interface Cli {
  output: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves once stdout has a line matching `re`. */
  waitFor(re: RegExp): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

function cli(...args: string[]): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'import', ...args], {
    env: {
      ...process.env,
      CRMSYNC_DATABASE_URL: database.url,
      CRMSYNC_CRM: 'sandbox',
      CRMSYNC_CRM_URL: sandbox.url,
      CRMSYNC_CRM_API_KEY: sandbox.apiKey,
      CRMSYNC_CRM_RATE_LIMIT: '1000',
      CRMSYNC_LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void; reject: (error: Error) => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of waiters.splice(0)) (w.re.test(stdout) ? w.resolve : () => waiters.push(w))();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const output = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      // A process that ended without printing what a test waits for fails that test at once.
      for (const w of waiters.splice(0)) w.reject(new Error(`crmsync import exited (${code ?? signal}) before printing ${w.re}:\n${stdout}\n${stderr}`));
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    output,
    waitFor: (re) => (re.test(stdout) ? Promise.resolve() : new Promise<void>((resolve, reject) => waiters.push({ re, resolve, reject }))),
    kill: (signal) => child.kill(signal),
  };
}

const localUsers = async () => {
  db ??= openDatabase(database.url);
  return listUsers(db, { limit: 1000 });
};

// Each test starts up to four Node processes (tsx compiles the CLI each time): on a loaded
// machine that alone can take tens of seconds, so these tests get a larger budget.
describe('crmsync import (command line)', { timeout: 180_000 }, () => {
  it('prints a progress line per page and a summary; --list shows the import; --undo rolls it back', async () => {
    await setup({ contacts: 5 });
    const run = await cli('--page-size', '2', '--tag', 'odd', '--role', 'member').output;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')).toEqual([
      'Import #1 from sandbox: contacts tagged "odd"; existing users left alone; new users get role member',
      'import #1: 2 of 3 contacts (created 2, updated 0, skipped 0, failed 0)',
      'import #1: 3 of 3 contacts (created 3, updated 0, skipped 0, failed 0)',
      'Import #1 done: 3 contacts listed; 3 users created, 0 updated, 0 skipped, 0 failed.',
      'Undo it with: crmsync import --undo 1',
      '',
    ]);
    expect((await localUsers()).map((u) => [u.email, u.role])).toEqual([
      ['c1@example.com', 'member'],
      ['c3@example.com', 'member'],
      ['c5@example.com', 'member'],
    ]);

    const list = await cli('--list').output;
    expect(list.stdout).toMatch(/^#1 {2}done {9}\d{4}-\d\d-\d\d \d\d:\d\d {2}sandbox {2}contacts tagged "odd"; existing users left alone; new users get role member {2}— {2}3 listed, created 3, updated 0, skipped 0, failed 0\n$/);

    const undo = await cli('--undo', '1').output;
    expect(undo.code).toBe(0);
    expect(undo.stdout).toMatch(/^Import #1 undone: 3 users deleted, 0 restored\.\n/);
    expect(await localUsers()).toEqual([]);
    const again = await cli('--undo', '1').output;
    expect(again).toMatchObject({ code: 2, stderr: 'crmsync import: import #1 was already undone\n' });
  });

  it('refuses a privileged role in plain words, before touching anything', async () => {
    await setup();
    const run = await cli('--role', 'administrator').output;
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('crmsync import: role "administrator" is privileged (CRMSYNC_PRIVILEGED_ROLES): an import never grants it, as a webhook never does\n');
    expect(await localUsers()).toEqual([]);
  });

  it('Ctrl-C stops after the current page; the same command continues where it stopped', async () => {
    await setup({ latencyMs: 150, contacts: 12 });
    const first = cli('--page-size', '2');
    await first.waitFor(/import #1: 2 of 12/);
    first.kill('SIGINT');
    const stopped = await first.output;
    expect(stopped.code).toBe(130);
    expect(stopped.stdout).toMatch(/Import #1 stopped after (\d+) of 12 contacts .*\nRun the same command again to continue where it stopped\.\n$/);
    const done = Number(/stopped after (\d+) of 12/.exec(stopped.stdout)![1]);
    expect(done).toBeLessThan(12);
    expect(await localUsers()).toHaveLength(done);

    const second = await cli('--page-size', '2').output;
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`Resuming import #1 from sandbox (all contacts; existing users left alone; new users get role default) after ${done} contacts`);
    expect(second.stdout).toContain('Import #1 done: 12 contacts listed; 12 users created, 0 updated, 0 skipped, 0 failed.');
    const users = await localUsers();
    expect(users).toHaveLength(12);
    expect(new Set(users.map((u) => u.contactId)).size).toBe(12);
  });

  it('kill -9 in the middle: the same command continues and creates nobody twice', async () => {
    await setup({ latencyMs: 150, contacts: 12 });
    const first = cli('--page-size', '2');
    await first.waitFor(/import #1: 4 of 12/);
    first.kill('SIGKILL');
    expect((await first.output).signal).toBe('SIGKILL');
    const second = await cli('--page-size', '2').output;
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/Resuming import #1 .* after \d+ contacts/);
    expect(second.stdout).toContain('Import #1 done: 12 contacts listed; 12 users created, 0 updated, 0 skipped, 0 failed.');
    expect(await localUsers()).toHaveLength(12);
  });
});
