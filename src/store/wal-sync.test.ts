import { closeSync, mkdtempSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WalSync, type Fsync } from './wal-sync.js';

/** An fsync the test finishes by hand. */
function manualFsync() {
  const calls: { fd: number; finish: (error?: Error) => void }[] = [];
  const fsync: Fsync = (fd, done) => {
    calls.push({ fd, finish: (error) => done(error ?? null) });
  };
  return { calls, fsync };
}

const state = async (p: Promise<unknown>) => {
  let s = 'pending';
  p.then(
    () => (s = 'resolved'),
    () => (s = 'rejected'),
  );
  await new Promise((r) => setImmediate(r));
  return s;
};

describe('WalSync', () => {
  it('a caller waits for an fsync that started after its call, never for one already running', async () => {
    const { calls, fsync } = manualFsync();
    const wal = new WalSync(() => 7, fsync);
    const first = wal.sync();
    expect(calls).toHaveLength(1);
    const second = wal.sync(); // arrives during the first fsync: its writes may not be covered by it
    const third = wal.sync();
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    expect(await state(first)).toBe('resolved');
    expect(await state(second)).toBe('pending');
    // One more fsync serves both callers that arrived meanwhile.
    expect(calls).toHaveLength(2);
    calls[1]!.finish();
    expect(await state(second)).toBe('resolved');
    expect(await state(third)).toBe('resolved');
    expect(calls.map((c) => c.fd)).toEqual([7, 7]);
  });

  it('a failed fsync rejects its callers (nothing is acknowledged), and the next caller gets a fresh fsync', async () => {
    const { calls, fsync } = manualFsync();
    const wal = new WalSync(() => 3, fsync);
    const failing = wal.sync();
    const queued = wal.sync();
    calls[0]!.finish(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(failing).rejects.toThrow('EIO');
    calls[1]!.finish();
    await expect(queued).resolves.toBeUndefined();
    const later = wal.sync();
    expect(calls).toHaveLength(3);
    calls[2]!.finish();
    await expect(later).resolves.toBeUndefined();
  });

  it('with no write-ahead log (in memory) there is nothing to sync', async () => {
    const { calls, fsync } = manualFsync();
    await new WalSync(() => null, fsync).sync();
    expect(calls).toHaveLength(0);
  });

  it('syncs a real file on the thread pool', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'crmsync-walsync-')), 'wal');
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, 'frames');
      const wal = new WalSync(() => fd);
      await Promise.all([wal.sync(), wal.sync(), wal.sync()]);
    } finally {
      closeSync(fd);
    }
  });
});
