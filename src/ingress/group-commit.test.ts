import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

/** A commit the test finishes by hand. */
function manualCommit() {
  const batches: { items: number[]; finish: () => void; fail: (e: Error) => void }[] = [];
  const commit = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({ items, finish: () => resolve(items.map((i) => `stored ${i}`)), fail: reject });
    });
  return { batches, commit };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('writes what arrives in one turn of the event loop as one batch, and answers each caller with its own result', async () => {
    const { batches, commit } = manualCommit();
    const group = new GroupCommit(commit);
    const answers = [1, 2, 3].map((i) => group.submit(i));
    await turn();
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3]]);
    batches[0]!.finish();
    expect(await Promise.all(answers)).toEqual(['stored 1', 'stored 2', 'stored 3']);
  });

  it('starts the next batch while the previous one is still committing, up to maxInFlight; the rest wait and go together', async () => {
    const { batches, commit } = manualCommit();
    const group = new GroupCommit(commit, { maxInFlight: 2 });
    const a = group.submit(1);
    await turn();
    const b = group.submit(2);
    await turn();
    expect(batches.map((x) => x.items)).toEqual([[1], [2]]);
    // Both slots busy: these wait for one to free up, then go as one batch.
    const c = [3, 4, 5].map((i) => group.submit(i));
    await turn();
    expect(batches).toHaveLength(2);
    batches[1]!.finish();
    expect(await b).toBe('stored 2');
    await turn();
    await turn();
    expect(batches.map((x) => x.items)).toEqual([[1], [2], [3, 4, 5]]);
    batches[0]!.finish();
    batches[2]!.finish();
    expect(await a).toBe('stored 1');
    expect(await Promise.all(c)).toEqual(['stored 3', 'stored 4', 'stored 5']);
  });

  it('a failed commit rejects only the callers of that batch', async () => {
    const { batches, commit } = manualCommit();
    const group = new GroupCommit(commit);
    const first = group.submit(1);
    await turn();
    const second = group.submit(2);
    await turn();
    batches[0]!.fail(new Error('disk full'));
    batches[1]!.finish();
    await expect(first).rejects.toThrow('disk full');
    await expect(second).resolves.toBe('stored 2');
  });

  it('splits a queue longer than maxBatch', async () => {
    const { batches, commit } = manualCommit();
    const group = new GroupCommit(commit, { maxBatch: 2, maxInFlight: 4 });
    const all = [1, 2, 3, 4, 5].map((i) => group.submit(i));
    await turn();
    await turn();
    await turn();
    expect(batches.map((b) => b.items)).toEqual([[1, 2], [3, 4], [5]]);
    batches.forEach((b) => b.finish());
    expect(await Promise.all(all)).toHaveLength(5);
  });
});
