/**
 * Who wins for one mapped field when a CRM read comes in. Pure: the merge (merge.ts) calls
 * `resolveField` once per field the snapshot carries, with the field's policy from the config,
 * its last synced value (what both sides last agreed on) and the verdict of the merge rule on
 * the field's local operation, if any.
 *
 * - `crm`: the CRM's value wins; a local operation on the field is dropped (the API refuses
 *   changes to such fields, see `refusedLocalChanges`).
 * - `app`: the local value wins; a different CRM value is ignored and the local value is pushed
 *   back (a correction), once: the echo of that push equals the local value and ends it.
 * - `both`: three-way merge against the last synced value. Only the CRM changed: take it. Only
 *   the app changed: keep it and push it. Both changed to different values: a conflict, logged
 *   with both values; a pending local operation wins (the merge rule: a read cannot know about
 *   it), otherwise the CRM's value wins (it is the newer evidence; a local change without an
 *   operation was never sent).
 *
 * Always: an empty CRM value does not erase a non-empty local one unless `clearOnEmpty`.
 */
export const FIELD_OWNERS = ['crm', 'app', 'both'] as const;
export type FieldOwner = (typeof FIELD_OWNERS)[number];

export interface FieldPolicy {
  owner: FieldOwner;
  clearOnEmpty: boolean;
}

/** Local field name → policy; a field not listed gets `DEFAULT_FIELD_POLICY`. */
export type FieldPolicies = Readonly<Record<string, FieldPolicy>>;

export const DEFAULT_FIELD_POLICY: FieldPolicy = Object.freeze({ owner: 'both', clearOnEmpty: false });

export function policyOf(policies: FieldPolicies | undefined, name: string): FieldPolicy {
  return (policies && Object.prototype.hasOwnProperty.call(policies, name) ? policies[name] : undefined) ?? DEFAULT_FIELD_POLICY;
}

/** What the merge rule says about a local operation given one CRM read (see merge.ts). */
export type Verdict = 'apply' | 'confirm' | 'override' | 'hold';

export interface FieldInput {
  name: string;
  local: string | null;
  crm: string | null;
  /** The last value both sides agreed on; undefined when never recorded. */
  synced: string | null | undefined;
  /** The field's unconfirmed local operation and the merge rule's verdict on it. */
  op: { value: string | null; verdict: Verdict } | null;
  policy: FieldPolicy;
}

export interface FieldNote {
  level: 'info' | 'notice' | 'warning';
  message: string;
  context: Record<string, unknown>;
}

export interface FieldOutcome {
  /** The local value after this read. */
  value: string | null;
  /** What becomes of the local operation: `override` drops it; otherwise as the merge rule says. */
  opVerdict: Verdict | null;
  /** Push `value` to the CRM as a new local operation (the CRM should have it). */
  push: boolean;
  note: FieldNote | null;
}

export const isEmpty = (value: string | null | undefined): boolean => value === null || value === undefined || value.trim() === '';

export function resolveField(input: FieldInput): FieldOutcome {
  const { name, local, crm, synced, op, policy } = input;
  let note: FieldNote | null = null;
  const ctx = (extra: Record<string, unknown> = {}) => ({ field: name, owner: policy.owner, local, crm, ...(synced !== undefined && { synced }), ...extra });

  /** The CRM's value, unless it is empty and would erase local data the policy protects. */
  const fromCrm = (): string | null => {
    if (isEmpty(crm) && !isEmpty(local) && !policy.clearOnEmpty) {
      note ??= { level: 'info', message: `field ${name}: the CRM value is empty; local value kept (clearOnEmpty is off)`, context: ctx() };
      return local;
    }
    return crm;
  };

  if (policy.owner === 'crm') {
    const value = fromCrm();
    if (op) note = { level: 'notice', message: `field ${name} is owned by the CRM: local change dropped, the CRM's value kept`, context: ctx({ app: op.value }) };
    return { value, opVerdict: op ? 'override' : null, push: false, note };
  }

  if (policy.owner === 'app') {
    if (op) {
      if (op.verdict !== 'override') return { value: op.value, opVerdict: op.verdict, push: false, note: null };
      // The CRM changed it after our write was accepted: the app still wins; send it again.
      return { value: op.value, opVerdict: 'override', push: true, note: { level: 'info', message: `field ${name} is owned by the app: CRM change ignored, local value pushed again`, context: ctx() } };
    }
    if (crm === local) return { value: local, opVerdict: null, push: false, note: null };
    // An empty local value does not erase the CRM's data either, unless the field says so.
    const push = !(isEmpty(local) && !isEmpty(crm) && !policy.clearOnEmpty);
    return {
      value: local,
      opVerdict: null,
      push,
      note: { level: 'info', message: `field ${name} is owned by the app: CRM value ignored${push ? '; local value pushed to the CRM' : ' (the local value is empty: not pushed)'}`, context: ctx() },
    };
  }

  // owner: both
  if (op) {
    if (op.verdict === 'override') return { value: fromCrm(), opVerdict: 'override', push: false, note };
    if (op.verdict === 'apply' && synced !== undefined && crm !== synced && crm !== op.value) {
      note = { level: 'warning', message: `conflict on field ${name}: changed in the app and in the CRM since the last sync; the app's pending change wins and is pushed`, context: ctx({ app: op.value, resolution: 'app' }) };
    }
    return { value: op.value, opVerdict: op.verdict, push: false, note };
  }
  if (synced === undefined) return { value: crm === local ? local : fromCrm(), opVerdict: null, push: false, note };
  const crmChanged = crm !== synced;
  const localChanged = local !== synced;
  if (!crmChanged || crm === local) {
    if (!localChanged || crm === local) return { value: local, opVerdict: null, push: false, note: null };
    return { value: local, opVerdict: null, push: true, note: { level: 'info', message: `field ${name} changed locally since the last sync; pushing it to the CRM`, context: ctx() } };
  }
  if (!localChanged) return { value: fromCrm(), opVerdict: null, push: false, note };
  const value = fromCrm();
  const resolution = value === crm ? 'crm' : 'app';
  return {
    value,
    opVerdict: null,
    push: false,
    note: { level: 'warning', message: `conflict on field ${name}: changed in the app and in the CRM since the last sync; ${resolution === 'crm' ? "the CRM's value wins" : 'the CRM value is empty: local value kept'}`, context: ctx({ resolution }) },
  };
}

/** The fields of a local change the policies refuse: `crm`-owned fields whose value would change. */
export function refusedLocalChanges(policies: FieldPolicies | undefined, current: Readonly<Record<string, string | null>>, wanted: Readonly<Record<string, string | null>>): string[] {
  return Object.entries(wanted)
    .filter(([name, value]) => policyOf(policies, name).owner === 'crm' && (current[name] ?? null) !== value)
    .map(([name]) => name);
}
