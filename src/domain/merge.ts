import type { ContactSnapshot, FieldValues } from './contact.js';
import { policyOf, resolveField, type FieldNote, type FieldPolicies, type Verdict } from './field-ownership.js';
import type { Operation } from './operation.js';
import { normaliseTags, tagDiff } from './tags.js';

/**
 * The loopback-safe merge: the local state after a CRM read is the CRM's state with this
 * user's unconfirmed local operations applied on top.
 *
 * For each operation:
 * - `pending` (not yet accepted by the CRM): always wins; the snapshot cannot know about it.
 * - `acked` and the snapshot agrees, and was read after the acknowledgement: confirmed.
 * - `acked` and the snapshot disagrees: if the read started at least `settleMs` after the
 *   acknowledgement, the CRM really changed it since (a CRM user removed the tag we applied):
 *   the CRM wins and the operation is dropped as overridden. Otherwise the snapshot may be
 *   stale or an echo of the moment before our write: the operation is held, and the caller
 *   schedules one more read at `recheckAt` so the outcome is settled either way.
 */
export interface MergeInput {
  /** The user's current local tags and fields. */
  tags: readonly string[];
  fields: FieldValues;
  snapshot: ContactSnapshot;
  operations: readonly Operation[];
  /** Whether mapped fields are synced in this pass (`update`, `add`) or only tags. */
  withFields: boolean;
  settleMs: number;
  /** Who wins per mapped field (field-ownership.ts); unlisted fields are `both`. */
  policies?: FieldPolicies;
  /** The last value of each field both sides agreed on (absent: never recorded). */
  synced?: FieldValues;
}

export interface FieldChange {
  name: string;
  from: string | null;
  to: string | null;
}

export interface MergeResult {
  tags: string[];
  fields: FieldValues;
  added: string[];
  removed: string[];
  fieldChanges: FieldChange[];
  confirmed: Operation[];
  overridden: Operation[];
  held: Operation[];
  /** When to read the contact again to settle held operations; null if none are held. */
  recheckAt: number | null;
  /** New last synced values: fields now equal on both sides, or an acknowledged write's value the CRM has changed since. */
  synced: FieldValues;
  /** Local values the CRM should have: pushed as new local operations. */
  corrections: FieldValues;
  /** Conflicts, ignored CRM changes, values kept against an empty CRM value. */
  fieldNotes: FieldNote[];
}

function verdict(op: Operation, agrees: boolean, readAt: number, settleMs: number): Verdict {
  if (op.state === 'pending' || op.ackedAt === null) return 'apply';
  if (agrees && readAt >= op.ackedAt) return 'confirm';
  if (!agrees && readAt >= op.ackedAt + settleMs) return 'override';
  return 'hold';
}

export function merge(input: MergeInput): MergeResult {
  const { snapshot, settleMs } = input;
  const crmTags = new Set(normaliseTags(snapshot.tags));
  const tags = new Set(crmTags);
  const fields: FieldValues = { ...input.fields };
  const fieldChanges: FieldChange[] = [];
  const confirmed: Operation[] = [];
  const overridden: Operation[] = [];
  const held: Operation[] = [];

  const fieldOps = new Map<string, Operation>();
  for (const op of input.operations) if (op.kind === 'set_field') fieldOps.set(op.name, op);
  const synced: FieldValues = {};
  const corrections: FieldValues = {};
  const fieldNotes: FieldNote[] = [];

  // Tag-only passes leave fields (and field operations) alone.
  if (input.withFields) {
    for (const [name, crmValue] of Object.entries(snapshot.fields)) {
      const op = fieldOps.get(name);
      const local = fields[name] ?? null;
      const timeVerdict = op ? verdict(op, crmValue === op.value, snapshot.readAt, settleMs) : null;
      const outcome = resolveField({
        name,
        local,
        crm: crmValue,
        synced: input.synced && Object.prototype.hasOwnProperty.call(input.synced, name) ? input.synced[name] : undefined,
        op: op && timeVerdict ? { value: op.value, verdict: timeVerdict } : null,
        policy: policyOf(input.policies, name),
      });
      if (outcome.value !== local) {
        fieldChanges.push({ name, from: local, to: outcome.value });
        fields[name] = outcome.value;
      }
      if (op && outcome.opVerdict) record(outcome.opVerdict, op);
      if (outcome.push) corrections[name] = outcome.value;
      if (outcome.value === crmValue) synced[name] = crmValue;
      // An acknowledged write the CRM has since changed: both sides did agree on its value, at the
      // acknowledgement — the base for the next three-way merge (else a refused empty CRM value
      // would look like a local change on the next pass, and be pushed).
      else if (op && op.ackedAt !== null && timeVerdict === 'override') synced[name] = op.value;
      if (outcome.note) fieldNotes.push(outcome.note);
    }
  }

  for (const op of input.operations) {
    if (op.kind === 'set_field') continue;
    const crmHas = crmTags.has(op.name);
    const agrees = op.kind === 'apply_tag' ? crmHas : !crmHas;
    const v = verdict(op, agrees, snapshot.readAt, settleMs);
    if (v !== 'override') {
      if (op.kind === 'apply_tag') tags.add(op.name);
      else tags.delete(op.name);
    }
    record(v, op);
  }

  function record(v: Verdict, op: Operation): void {
    if (v === 'confirm') confirmed.push(op);
    else if (v === 'override') overridden.push(op);
    else if (v === 'hold') held.push(op);
  }

  const finalTags = normaliseTags(tags);
  const { added, removed } = tagDiff(normaliseTags(input.tags), finalTags);
  const recheckAt = held.length
    ? Math.min(...held.map((op) => (op.ackedAt ?? snapshot.readAt) + settleMs))
    : null;
  return { tags: finalTags, fields, added, removed, fieldChanges, confirmed, overridden, held, recheckAt, synced, corrections, fieldNotes };
}
