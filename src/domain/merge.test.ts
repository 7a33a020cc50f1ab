import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ContactSnapshot } from './contact.js';
import { merge } from './merge.js';
import type { Operation } from './operation.js';

const SETTLE = 60_000;
const snap = (tags: string[], readAt: number, fields: Record<string, string | null> = {}): ContactSnapshot => ({ contactId: '1', email: 'a@example.com', tags, fields, readAt });
let nextId = 1;
const op = (kind: Operation['kind'], name: string, state: Operation['state'], ackedAt: number | null, value: string | null = null): Operation => ({
  id: nextId++,
  userId: 1,
  kind,
  name,
  value,
  state,
  createdAt: 0,
  ackedAt,
});

describe('merge: the CRM state with unconfirmed local operations on top', () => {
  it('takes the CRM tags when nothing is pending', () => {
    const r = merge({ tags: ['a', 'b'], fields: {}, snapshot: snap(['b', 'c'], 10), operations: [], withFields: false, settleMs: SETTLE });
    expect(r).toMatchObject({ tags: ['b', 'c'], added: ['c'], removed: ['a'], recheckAt: null });
  });

  it('a pending apply survives a snapshot without the tag', () => {
    const r = merge({ tags: ['course'], fields: {}, snapshot: snap([], 10), operations: [op('apply_tag', 'course', 'pending', null)], withFields: false, settleMs: SETTLE });
    expect(r.tags).toEqual(['course']);
    expect(r.confirmed).toEqual([]);
  });

  it('an acknowledged apply is held against a disagreeing read inside the settle window, with a recheck', () => {
    const r = merge({ tags: ['course'], fields: {}, snapshot: snap([], 1_000 + 5_000), operations: [op('apply_tag', 'course', 'acked', 1_000)], withFields: false, settleMs: SETTLE });
    expect(r.tags).toEqual(['course']);
    expect(r.held).toHaveLength(1);
    expect(r.recheckAt).toBe(1_000 + SETTLE);
  });

  it('an acknowledged apply is confirmed by an agreeing read that started after the acknowledgement', () => {
    const r = merge({ tags: ['course'], fields: {}, snapshot: snap(['course'], 2_000), operations: [op('apply_tag', 'course', 'acked', 1_000)], withFields: false, settleMs: SETTLE });
    expect(r.confirmed).toHaveLength(1);
    expect(r.tags).toEqual(['course']);
  });

  it('a read that started before the acknowledgement confirms nothing', () => {
    const r = merge({ tags: ['course'], fields: {}, snapshot: snap(['course'], 500), operations: [op('apply_tag', 'course', 'acked', 1_000)], withFields: false, settleMs: SETTLE });
    expect(r.confirmed).toEqual([]);
    expect(r.held).toHaveLength(1);
  });

  it('after the settle window, a disagreeing read is a real CRM change and wins', () => {
    const r = merge({ tags: ['course'], fields: {}, snapshot: snap([], 1_000 + SETTLE), operations: [op('apply_tag', 'course', 'acked', 1_000)], withFields: false, settleMs: SETTLE });
    expect(r.tags).toEqual([]);
    expect(r.overridden).toHaveLength(1);
    expect(r.removed).toEqual(['course']);
  });

  it('a pending removal is not undone by a snapshot that still has the tag', () => {
    const r = merge({ tags: [], fields: {}, snapshot: snap(['old'], 10), operations: [op('remove_tag', 'old', 'pending', null)], withFields: false, settleMs: SETTLE });
    expect(r.tags).toEqual([]);
  });

  it('fields follow the same rule, and only on passes that sync fields', () => {
    const ops = [op('set_field', 'phone', 'pending', null, '+1 555')];
    const withFields = merge({ tags: [], fields: { phone: '+1 555', first_name: 'A' }, snapshot: snap([], 10, { phone: null, first_name: 'Ada' }), operations: ops, withFields: true, settleMs: SETTLE });
    expect(withFields.fields).toEqual({ phone: '+1 555', first_name: 'Ada' });
    expect(withFields.fieldChanges).toEqual([{ name: 'first_name', from: 'A', to: 'Ada' }]);
    const tagsOnly = merge({ tags: [], fields: { first_name: 'A' }, snapshot: snap([], 10, { first_name: 'Ada' }), operations: [], withFields: false, settleMs: SETTLE });
    expect(tagsOnly.fields).toEqual({ first_name: 'A' });
  });

  it('property: no snapshot older than settle-after-ack ever removes a locally applied tag; agreeing fresh reads confirm it', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 5 }),
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 5 }),
        fc.constantFrom<'pending' | 'acked'>('pending', 'acked'),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 2 * SETTLE }),
        (crmTags, applied, state, ackedAt, delay) => {
          const operations = applied.map((t) => op('apply_tag', t, state, state === 'acked' ? ackedAt : null));
          const readAt = ackedAt + delay;
          const r = merge({ tags: [], fields: {}, snapshot: snap(crmTags, readAt), operations, withFields: false, settleMs: SETTLE });
          for (const t of applied) {
            const mayLose = state === 'acked' && delay >= SETTLE && !crmTags.includes(t);
            if (!mayLose) expect(r.tags).toContain(t);
          }
          // Every CRM tag not touched by a local op is taken as is.
          for (const t of crmTags) expect(r.tags).toContain(t);
          // Each op gets exactly one verdict at most, and held ones ask for a recheck.
          expect(r.held.length > 0).toBe(r.recheckAt !== null);
          const verdicts = [...r.confirmed, ...r.overridden, ...r.held].map((o) => o.id);
          expect(new Set(verdicts).size).toBe(verdicts.length);
        },
      ),
    );
  });
});
