import { fork, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { LoadRequest, LoadResult } from './load.js';

/** Helpers to run the benchmark's child processes, every wait bounded in time. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const benchFile = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const tsx = ['--import', 'tsx'];

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class BenchError extends Error {
  override readonly name = 'BenchError';
}

/** Every child this process started; whatever is still alive when it exits is killed (by pid). */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves with the first IPC message of `child`, or rejects if it exits or `ms` pass first. */
function firstMessage<T>(child: ChildProcess, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(new BenchError(`${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
    const onMessage = (m: unknown) => done(null, m as T);
    const onExit = (code: number | null, signal: string | null) => done(new BenchError(`${what}: exited (${signal ?? code}) before answering`));
    function done(error: Error | null, value?: T) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(value as T);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export function waitForExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchError(`child ${child.pid} did not exit within ${ms} ms`)), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Starts the bare node:http server in its own process; resolves with it and its URL. */
export async function startBareServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = track(fork(benchFile('bare-server.ts'), [], { execArgv: tsx, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const { port } = await firstMessage<{ port: number }>(child, 20_000, 'bare node:http server');
  return { child, url: `http://127.0.0.1:${port}` };
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', ms = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  await waitForExit(child, ms);
}

/** Runs autocannon in a fresh child process against `req.url`. */
export async function runLoad(req: LoadRequest): Promise<LoadResult> {
  const child = track(fork(benchFile('load.ts'), [], { execArgv: tsx, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    child.send(req);
    const answer = await firstMessage<{ ok: true; result: LoadResult } | { ok: false; error: string }>(child, (req.durationSec + 30) * 1000, 'autocannon');
    if (!answer.ok) throw new BenchError(`autocannon failed: ${answer.error}`);
    return answer.result;
  } finally {
    await stopChild(child, 'SIGTERM', 5_000).catch(() => child.kill('SIGKILL'));
  }
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface CrmsyncChild {
  child: ChildProcess;
  url: string;
  logFile: string;
}

/**
 * `crmsync serve` as its own process, exactly as a user starts it (`node --import tsx
 * src/cli/main.ts serve`), configured only by the environment given here: the parent's
 * CRMSYNC_* variables are not inherited. Its output goes to `logFile`.
 */
export const exitOnSignalModule = benchFile('exit-on-signal.ts');

export async function startCrmsync(options: { env: Record<string, string>; logFile: string; nodeArgs?: string[] }): Promise<CrmsyncChild> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRMSYNC_') && k !== 'PORT' && k !== 'HOST') env[k] = v;
  Object.assign(env, { PORT: String(port), HOST: '127.0.0.1', ...options.env });
  const out = openSync(options.logFile, 'a');
  const child = track(
    spawn(process.execPath, [...tsx, ...(options.nodeArgs ?? []), 'src/cli/main.ts', 'serve', '--sandbox-port', '0'], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', out, out],
    }),
  );
  closeSync(out);
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new BenchError(`crmsync serve exited (${child.signalCode ?? child.exitCode}) while starting; see ${options.logFile}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return { child, url, logFile: options.logFile };
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new BenchError(`crmsync serve did not answer /healthz within 30 s; see ${options.logFile}`);
    }
    await sleep(100);
  }
}
