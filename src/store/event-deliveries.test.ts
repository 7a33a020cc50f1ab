import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshStore } from '../../test/support/store.js';
import { dialectOf, openDatabase, type Db } from './database.js';
import { claimDeliveries, enqueueDeliveries, finishAttempt, listDeliveries, nextDeliveryDueAt } from './event-deliveries.js';
import { activeSecrets, disableEndpoint, insertEndpoint, rotateSecret } from './event-endpoints.js';

describe('event outbox (store)', () => {
  let db: Db;
  let url: string;
  let close: () => Promise<void>;
  beforeEach(async () => ({ db, url, close } = await freshStore()));
  afterEach(() => close());

  const event = (n: number) => ({ eventId: `evt_${n}`, type: 'user.created' as const, payload: `{"n":${n}}` });

  it('fans an event out to the enabled endpoints whose filter wants it, once each', async () => {
    const all = await insertEndpoint(db, { url: 'https://a.example/h', events: ['*'], secret: 'whsec_AAAA' }, 1);
    const tags = await insertEndpoint(db, { url: 'https://b.example/h', events: ['user.tags_changed'], secret: 'whsec_BBBB' }, 1);
    const off = await insertEndpoint(db, { url: 'https://c.example/h', events: ['*'], secret: 'whsec_CCCC' }, 1);
    await disableEndpoint(db, off.id, 'test', 2);
    expect(await enqueueDeliveries(db, [event(1), { ...event(2), type: 'user.tags_changed' }], 10)).toBe(3);
    expect((await listDeliveries(db, all.id, { limit: 10 })).map((d) => d.eventId)).toEqual(['evt_2', 'evt_1']);
    expect((await listDeliveries(db, tags.id, { limit: 10 })).map((d) => d.eventId)).toEqual(['evt_2']);
    expect(await listDeliveries(db, off.id, { limit: 10 })).toEqual([]);
    await expect(enqueueDeliveries(db, [event(1)], 11)).rejects.toThrow(); // one row per event and endpoint
  });

  it('concurrent claims (two connections, as two instances) never take the same delivery; a claim expires; a stale claim cannot finish', async () => {
    await insertEndpoint(db, { url: 'https://a.example/h', events: ['*'], secret: 'whsec_AAAA' }, 1);
    await enqueueDeliveries(db, Array.from({ length: 40 }, (_, i) => event(i)), 10);
    // SQLite has one instance (one connection); PostgreSQL instances each have their own pool.
    const postgres = dialectOf(db) === 'postgres';
    const other = postgres ? openDatabase(url) : db;
    try {
      const [a, b] = await Promise.all([
        claimDeliveries(db, { worker: 'a', now: 20, limit: 25, leaseMs: 1000 }),
        claimDeliveries(other, { worker: 'b', now: 20, limit: 25, leaseMs: 1000 }),
      ]);
      const ids = [...a, ...b].map((d) => d.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeGreaterThanOrEqual(25);
    } finally {
      if (postgres) await other.destroy();
    }
    const rest = await claimDeliveries(db, { worker: 'a', now: 21, limit: 100, leaseMs: 1000 });
    const claimedBefore = 40 - rest.length;
    expect(claimedBefore).toBeGreaterThanOrEqual(25);
    expect(await nextDeliveryDueAt(db)).toBe(1020);
    // Claims expire (a crashed instance): due again, taken over; the first claim can no longer finish.
    const stale = await claimDeliveries(db, { worker: 'x', now: 2000, limit: 100, leaseMs: 1000 });
    expect(await claimDeliveries(db, { worker: 'z', now: 2999, limit: 100, leaseMs: 1000 })).toEqual([]);
    const takenAll = await claimDeliveries(db, { worker: 'y', now: 3001, limit: 100, leaseMs: 1000 });
    expect(takenAll.map((d) => d.id)).toEqual(stale.map((d) => d.id));
    const [first] = stale;
    const taken = takenAll.find((d) => d.id === first!.id)!;
    expect(taken.attempts).toBe(first!.attempts + 1);
    expect(await finishAttempt(db, first!, 'x', { state: 'delivered', status: 200 }, 3002)).toBe(false);
    expect(await finishAttempt(db, taken, 'y', { state: 'delivered', status: 200 }, 3002)).toBe(true);
  });

  it('rotation puts the new secret first and gives the older ones a grace period', async () => {
    const ep = await insertEndpoint(db, { url: 'https://a.example/h', events: ['*'], secret: 'whsec_AAAA' }, 1);
    const once = (await rotateSecret(db, ep.id, 'whsec_BBBB', 100, 10))!;
    expect(once.secrets.map((s) => [s.secret, s.expiresAt])).toEqual([['whsec_BBBB', null], ['whsec_AAAA', 110]]);
    expect(activeSecrets(once, 50)).toEqual(['whsec_BBBB', 'whsec_AAAA']);
    expect(activeSecrets(once, 110)).toEqual(['whsec_BBBB']);
    const twice = (await rotateSecret(db, ep.id, 'whsec_CCCC', 1000, 120))!;
    expect(twice.secrets.map((s) => [s.secret, s.expiresAt])).toEqual([['whsec_CCCC', null], ['whsec_BBBB', 1120]]);
    expect(await rotateSecret(db, 999, 'whsec_DDDD', 0, 1)).toBeNull();
  });
});
