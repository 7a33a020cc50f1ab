/**
 * A local change on its way to the CRM. One row per target (a tag or a field) and user:
 * a newer change to the same target replaces the older one, because only the latest
 * intent matters and tag/field deltas are idempotent.
 *
 * - `pending`: committed locally, not yet accepted by the CRM.
 * - `acked`: the CRM accepted it at `ackedAt`; it is confirmed (and deleted) when a CRM
 *   read that started after `ackedAt` agrees with it.
 */
export type OperationKind = 'apply_tag' | 'remove_tag' | 'set_field';
export type OperationState = 'pending' | 'acked';

export interface Operation {
  id: number;
  userId: number;
  kind: OperationKind;
  /** The tag name, or the local field name. */
  name: string;
  /** The new value for `set_field`. */
  value: string | null;
  state: OperationState;
  createdAt: number;
  ackedAt: number | null;
}

export function operationTarget(kind: OperationKind, name: string): string {
  return kind === 'set_field' ? `field:${name}` : `tag:${name}`;
}
