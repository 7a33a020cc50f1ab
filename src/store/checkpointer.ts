import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs SQLite's WAL checkpoints in a worker thread, on its own connection, so the copying of
 * pages back into the database file never happens inside a webhook's commit on the main thread.
 * The main connection keeps a high auto-checkpoint threshold as a safety net.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (error) { parentPort.postMessage(String(error)); }
}, workerData.everyMs);
`;

export interface Checkpointer {
  stop(): void;
}

export function startCheckpointer(path: string, everyMs = 250): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { path, everyMs, driver } });
  worker.unref();
  // A checkpoint is crash-safe, so ending the thread at any moment is too.
  return { stop: () => void worker.terminate() };
}
