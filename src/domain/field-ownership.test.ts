import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ContactSnapshot, FieldValues } from './contact.js';
import { refusedLocalChanges, resolveField, type FieldInput, type FieldOwner, type Verdict } from './field-ownership.js';
import { merge } from './merge.js';
import type { Operation } from './operation.js';

const policy = (owner: FieldOwner, clearOnEmpty = false) => ({ owner, clearOnEmpty });
const field = (input: Partial<FieldInput> & Pick<FieldInput, 'local' | 'crm'>): FieldInput => ({ name: 'phone', synced: undefined, op: null, policy: policy('both'), ...input });
const op = (value: string | null, verdict: Verdict) => ({ value, verdict });

describe('resolveField: who wins for one field', () => {
  // [case, input, expected value, expected push, expected op verdict, expected note level]
  const table: [string, FieldInput, string | null, boolean, Verdict | null, string | null][] = [
    // crm
    ['crm: the CRM value wins', field({ policy: policy('crm'), local: 'a', crm: 'b' }), 'b', false, null, null],
    ['crm: an empty CRM value does not erase', field({ policy: policy('crm'), local: 'a', crm: null }), 'a', false, null, 'info'],
    ['crm: blank counts as empty', field({ policy: policy('crm'), local: 'a', crm: '  ' }), 'a', false, null, 'info'],
    ['crm: clearOnEmpty lets it erase', field({ policy: policy('crm', true), local: 'a', crm: null }), null, false, null, null],
    ['crm: a local operation is dropped', field({ policy: policy('crm'), local: 'x', crm: 'b', op: op('x', 'apply') }), 'b', false, 'override', 'notice'],
    ['crm: empty local takes the CRM value', field({ policy: policy('crm'), local: null, crm: 'b' }), 'b', false, null, null],
    // app
    ['app: a CRM change is ignored and corrected', field({ policy: policy('app'), local: 'a', crm: 'b', synced: 'a' }), 'a', true, null, 'info'],
    ['app: an empty CRM value is corrected too', field({ policy: policy('app'), local: 'a', crm: null }), 'a', true, null, 'info'],
    ['app: equal values: nothing to do', field({ policy: policy('app'), local: 'a', crm: 'a' }), 'a', false, null, null],
    ['app: an empty local value is not pushed over CRM data', field({ policy: policy('app'), local: null, crm: 'b' }), null, false, null, 'info'],
    ['app: …unless clearOnEmpty', field({ policy: policy('app', true), local: null, crm: 'b' }), null, true, null, 'info'],
    ['app: a pending operation stays', field({ policy: policy('app'), local: 'x', crm: 'b', op: op('x', 'apply') }), 'x', false, 'apply', null],
    ['app: a contradicted acknowledged operation is pushed again', field({ policy: policy('app'), local: 'x', crm: 'b', op: op('x', 'override') }), 'x', true, 'override', 'info'],
    // both, three-way
    ['both: only the CRM changed: taken', field({ local: 'a', crm: 'b', synced: 'a' }), 'b', false, null, null],
    ['both: only the app changed: kept and pushed', field({ local: 'x', crm: 'a', synced: 'a' }), 'x', true, null, 'info'],
    ['both: neither changed', field({ local: 'a', crm: 'a', synced: 'a' }), 'a', false, null, null],
    ['both: both changed to the same value', field({ local: 'x', crm: 'x', synced: 'a' }), 'x', false, null, null],
    ['both: both changed, no pending operation: conflict, the CRM wins', field({ local: 'x', crm: 'b', synced: 'a' }), 'b', false, null, 'warning'],
    ['both: both changed, CRM emptied it: conflict, local kept', field({ local: 'x', crm: null, synced: 'a' }), 'x', false, null, 'warning'],
    ['both: pending operation vs a CRM change: conflict, the app wins', field({ local: 'x', crm: 'b', synced: 'a', op: op('x', 'apply') }), 'x', false, 'apply', 'warning'],
    ['both: pending operation, CRM unchanged: no conflict', field({ local: 'x', crm: 'a', synced: 'a', op: op('x', 'apply') }), 'x', false, 'apply', null],
    ['both: held operation stays', field({ local: 'x', crm: 'a', synced: 'a', op: op('x', 'hold') }), 'x', false, 'hold', null],
    ['both: confirmed operation', field({ local: 'x', crm: 'x', synced: 'a', op: op('x', 'confirm') }), 'x', false, 'confirm', null],
    ['both: overridden operation: the CRM wins (merge rule)', field({ local: 'x', crm: 'b', synced: 'a', op: op('x', 'override') }), 'b', false, 'override', null],
    ['both: overridden by an empty value: local kept', field({ local: 'x', crm: null, synced: 'a', op: op('x', 'override') }), 'x', false, 'override', 'info'],
    ['both: only the CRM emptied it: kept', field({ local: 'a', crm: null, synced: 'a' }), 'a', false, null, 'info'],
    ['both: only the CRM emptied it, clearOnEmpty: erased', field({ policy: policy('both', true), local: 'a', crm: null, synced: 'a' }), null, false, null, null],
    ['both: never synced: the CRM value is taken (as before)', field({ local: 'a', crm: 'b' }), 'b', false, null, null],
    ['both: never synced, CRM empty: kept', field({ local: 'a', crm: null }), 'a', false, null, 'info'],
  ];
  it.each(table)('%s', (_case, input, value, push, opVerdict, level) => {
    const out = resolveField(input);
    expect(out.value).toBe(value);
    expect(out.push).toBe(push);
    expect(out.opVerdict).toBe(opVerdict);
    expect(out.note?.level ?? null).toBe(level);
  });

  it('a conflict note carries both values', () => {
    const out = resolveField(field({ local: 'x', crm: 'b', synced: 'a', op: op('x', 'apply') }));
    expect(out.note?.context).toMatchObject({ field: 'phone', crm: 'b', app: 'x', synced: 'a', resolution: 'app' });
  });

  it('refuses local changes to crm-owned fields only when the value would change', () => {
    const policies = { phone: policy('crm'), company: policy('app') };
    expect(refusedLocalChanges(policies, { phone: '1' }, { phone: '1', company: 'x', first_name: 'y' })).toEqual([]);
    expect(refusedLocalChanges(policies, { phone: '1' }, { phone: '2', company: 'x' })).toEqual(['phone']);
    expect(refusedLocalChanges(undefined, {}, { phone: '2' })).toEqual([]);
  });
});

describe('merge with field ownership: regressions', () => {
  it('an acknowledged write the CRM blanked after the settle window: kept locally, never pushed back, on this pass or the next', () => {
    // Found by the idempotence property (seed -43259841): the app set phone "c", the CRM accepted
    // it, a later read shows it empty. Empty CRM values do not erase; the next pass must not
    // mistake the kept value for a new local change and push it.
    const op = { id: 1, userId: 1, kind: 'set_field' as const, name: 'phone', value: 'c', state: 'acked' as const, createdAt: 0, ackedAt: 0 };
    const policies = { phone: { owner: 'both' as const, clearOnEmpty: false } };
    const snapshot: ContactSnapshot = { contactId: '1', email: 'a@example.com', tags: [], fields: { phone: null }, readAt: 60_000 };
    const first = merge({ tags: [], fields: { phone: 'c' }, snapshot, operations: [op], withFields: true, settleMs: 60_000, policies, synced: { phone: null } });
    expect(first.fields.phone).toBe('c');
    expect(first.overridden).toEqual([op]);
    expect(first.corrections).toEqual({});
    expect(first.synced).toEqual({ phone: 'c' });
    const second = merge({ tags: [], fields: first.fields, snapshot, operations: [], withFields: true, settleMs: 60_000, policies, synced: first.synced });
    expect(second.fields.phone).toBe('c');
    expect(second.corrections).toEqual({});
  });
});

// Property tests over the whole merge: random local, CRM, synced values, policies and operations.
const VALUES = [null, '', 'a', 'b', 'c'] as const;
const value = fc.constantFrom<string | null>(...VALUES);
const NAMES = ['first_name', 'phone', 'company'] as const;
const SETTLE = 60_000;
const owner = fc.constantFrom<FieldOwner>('crm', 'app', 'both');

const scenario = fc.record({
  local: fc.record({ first_name: value, phone: value, company: value }),
  crm: fc.record({ first_name: value, phone: value, company: value }),
  synced: fc.record({ first_name: value, phone: value, company: value }, { requiredKeys: [] }),
  policies: fc.record({ first_name: fc.record({ owner, clearOnEmpty: fc.boolean() }), phone: fc.record({ owner, clearOnEmpty: fc.boolean() }), company: fc.record({ owner, clearOnEmpty: fc.boolean() }) }),
  ops: fc.array(
    fc.record({ name: fc.constantFrom(...NAMES), value, state: fc.constantFrom<'pending' | 'acked'>('pending', 'acked'), ackedAt: fc.integer({ min: 0, max: 1000 }) }),
    { maxLength: 3 },
  ),
  readDelay: fc.integer({ min: 0, max: 2 * SETTLE }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function operationsOf(s: Scenario): Operation[] {
  // One operation per field (a newer change replaces the older one), and the local value is its value.
  const byName = new Map(s.ops.map((o, i) => [o.name, { id: i + 1, userId: 1, kind: 'set_field' as const, name: o.name, value: o.value, state: o.state, createdAt: 0, ackedAt: o.state === 'acked' ? o.ackedAt : null }]));
  return [...byName.values()];
}

function run(s: Scenario, local: FieldValues, synced: FieldValues, operations: Operation[]) {
  const snapshot: ContactSnapshot = { contactId: '1', email: 'a@example.com', tags: [], fields: s.crm, readAt: 1000 + s.readDelay };
  return merge({ tags: [], fields: local, snapshot, operations, withFields: true, settleMs: SETTLE, policies: s.policies, synced });
}

function localWithOps(s: Scenario, operations: Operation[]): FieldValues {
  const local: FieldValues = { ...s.local };
  for (const o of operations) local[o.name] = o.value;
  return local;
}

/** One merge of the scenario's read over its local state (each operation's value is the local value). */
function firstPass(s: Scenario) {
  const operations = operationsOf(s);
  const local = localWithOps(s, operations);
  return { operations, local, r: run(s, local, s.synced, operations) };
}

describe('merge with field ownership: properties', () => {
  it('is idempotent: merging the same read again changes nothing and pushes nothing new', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { operations, r: first } = firstPass(s);
        // What the pass leaves behind: dropped operations gone, corrections recorded as pending.
        const gone = new Set([...first.confirmed, ...first.overridden].map((o) => o.id));
        const kept = operations.filter((o) => !gone.has(o.id) && !(o.name in first.corrections));
        const corrections = Object.entries(first.corrections).map(([name, v], i) => ({ id: 100 + i, userId: 1, kind: 'set_field' as const, name, value: v, state: 'pending' as const, createdAt: 0, ackedAt: null }));
        const second = run(s, first.fields, { ...s.synced, ...first.synced }, [...kept, ...corrections]);
        expect(second.fields).toEqual(first.fields);
        expect(second.fieldChanges).toEqual([]);
        expect(second.corrections).toEqual({});
        expect(second.overridden.filter((o) => o.id < 100)).toEqual([]);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 100) },
    );
  });

  it('never erases a local value with an empty CRM value unless the field allows it', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { local, r } = firstPass(s);
        for (const name of NAMES) {
          const was = local[name] ?? null;
          const now = r.fields[name] ?? null;
          const erased = was !== null && was.trim() !== '' && (now === null || now.trim() === '');
          if (erased) expect(s.policies[name].clearOnEmpty).toBe(true);
        }
      }),
    );
  });

  it('app-owned fields never change from CRM input, and the CRM value only lands where the CRM owns or may change the field', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { local, r } = firstPass(s);
        for (const name of NAMES) {
          if (s.policies[name].owner === 'app') expect(r.fields[name] ?? null).toBe(local[name] ?? null);
          if (s.policies[name].owner === 'crm') {
            const crm = s.crm[name];
            const keptOnEmpty = (crm === null || crm.trim() === '') && !s.policies[name].clearOnEmpty;
            if (!keptOnEmpty) expect(r.fields[name] ?? null).toBe(crm);
          }
        }
        // A field recorded as synced is a value both sides agreed on: equal now, or the value of an
        // acknowledged write the CRM has changed since.
        for (const [name, v] of Object.entries(r.synced)) {
          const acked = r.overridden.find((o) => o.kind === 'set_field' && o.name === name && o.ackedAt !== null && o.ackedAt + SETTLE <= 1000 + s.readDelay);
          if (acked && (r.fields[name] ?? null) !== s.crm[name as (typeof NAMES)[number]]) expect(v).toBe(acked.value);
          else {
            expect(r.fields[name] ?? null).toBe(v);
            expect(s.crm[name as (typeof NAMES)[number]]).toBe(v);
          }
        }
        // Corrections only ever push the local value, and never for a crm-owned field.
        for (const [name, v] of Object.entries(r.corrections)) {
          expect(s.policies[name as (typeof NAMES)[number]].owner).not.toBe('crm');
          expect(r.fields[name] ?? null).toBe(v);
        }
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 100) },
    );
  });
});
