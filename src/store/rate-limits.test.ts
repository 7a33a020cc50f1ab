import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshStore } from '../../test/support/store.js';
import { SharedSlotLimiter } from '../crm/rate-limiter.js';
import type { Db } from './database.js';
import { pushBackSlots, reserveSlots } from './rate-limits.js';

describe('shared rate limit slots', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeEach(async () => ({ db, close } = await freshStore()));
  afterEach(() => close());

  it('hands out consecutive, never overlapping slots', async () => {
    const waits = [];
    for (let i = 0; i < 4; i++) {
      const { first, now } = await reserveSlots(db, 'crm:a', 2, 100);
      waits.push(first - now);
    }
    // Four reservations of two 100 ms slots: the first is due now, each next one 200 ms later.
    waits.forEach((w, i) => expect(w).toBeGreaterThanOrEqual(i * 200 - 60));
    expect(waits[3]!).toBeLessThanOrEqual(600 + 10);
    const other = await reserveSlots(db, 'crm:other', 1, 100);
    expect(other.first - other.now).toBeLessThan(20);
  });

  it('a pushed-back account gives no slot before the pause ends', async () => {
    await reserveSlots(db, 'crm:a', 1, 100);
    await pushBackSlots(db, 'crm:a', 1000);
    const { first, now } = await reserveSlots(db, 'crm:a', 1, 100);
    expect(first - now).toBeGreaterThan(900);
  });

  it('two limiters on one account together stay within the rate', async () => {
    const source = { reserve: (n: number, i: number) => reserveSlots(db, 'crm:shared', n, i), pushBack: (ms: number) => pushBackSlots(db, 'crm:shared', ms) };
    const a = new SharedSlotLimiter(source, { requests: 20, perMs: 1000 });
    const b = new SharedSlotLimiter(source, { requests: 20, perMs: 1000 });
    const times: number[] = [];
    const start = Date.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).take().then(() => times.push(Date.now() - start))));
    times.sort((x, y) => x - y);
    // 20 calls at 20/s: the last cannot start before ~950 ms, and no 1-second window holds more than 20.
    expect(times[19]!).toBeGreaterThanOrEqual(900);
  });

  it('a limit that does not divide a second into whole milliseconds (3/s) still reserves', async () => {
    const source = { reserve: (n: number, i: number) => reserveSlots(db, 'crm:thirds', n, i), pushBack: (ms: number) => pushBackSlots(db, 'crm:thirds', ms) };
    const limiter = new SharedSlotLimiter(source, { requests: 3, perMs: 1000 });
    const start = Date.now();
    await Promise.all([limiter.take(), limiter.take()]);
    // Two calls, spaced wider than 1/3 s (the shared limit keeps a margin for drift).
    expect(Date.now() - start).toBeGreaterThanOrEqual(330);
  });

  it('a limit faster than the reservation round trip still makes progress (a slot late only by the trip is used)', async () => {
    // 200/s: slots 5.5 ms apart, a round trip to the store of 10 ms. Dropping every slot that
    // arrived late by the trip re-reserved forever, each time a few ms further behind.
    let reservations = 0;
    const source = {
      reserve: async (n: number, i: number) => {
        reservations++;
        await new Promise((r) => setTimeout(r, 10));
        return reserveSlots(db, 'crm:fast', n, i);
      },
      pushBack: (ms: number) => pushBackSlots(db, 'crm:fast', ms),
    };
    const limiter = new SharedSlotLimiter(source, { requests: 200, perMs: 1000 });
    const start = Date.now();
    for (let i = 0; i < 10; i++) await limiter.take();
    expect(Date.now() - start).toBeLessThan(2000);
    expect(reservations).toBeLessThanOrEqual(20);
  });
});
