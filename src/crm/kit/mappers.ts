import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { KitCustomField, KitSubscriber, KitTag } from './types.js';

/**
 * Pure translation between Kit shapes and crmsync's contacts.
 *
 * A field map value (local name → Kit key) is `first_name` or `email_address` (the subscriber's
 * own attributes) or a **custom field key** (`last_name`, `phone_number`: the `key` of
 * `GET /v4/custom_fields`, not its label). Custom field keys are checked against the account's
 * fields before the first write or read that needs them.
 */
export const STANDARD_KEYS = ['first_name', 'email_address'] as const;
export type StandardKey = (typeof STANDARD_KEYS)[number];
export type KitTarget = { kind: 'standard'; key: StandardKey } | { kind: 'custom'; key: string };
export type ResolvedFieldMap = Map<string, KitTarget>;

export function parseFieldKey(key: string): KitTarget {
  const trimmed = key.trim();
  return (STANDARD_KEYS as readonly string[]).includes(trimmed) ? { kind: 'standard', key: trimmed as StandardKey } : { kind: 'custom', key: trimmed };
}

export function hasCustomFields(fieldMap: FieldMap): boolean {
  return Object.values(fieldMap).some((key) => parseFieldKey(key).kind === 'custom');
}

/** Every mapped custom key must exist in the account (by `key`, or by label as a convenience). */
export function resolveFieldMap(fieldMap: FieldMap, customFields: readonly KitCustomField[] | null): ResolvedFieldMap {
  const byKey = new Set((customFields ?? []).map((f) => f.key));
  const byLabel = new Map((customFields ?? []).map((f) => [f.label.trim().toLowerCase(), f.key]));
  const resolved: ResolvedFieldMap = new Map();
  const unknown: string[] = [];
  for (const [local, key] of Object.entries(fieldMap)) {
    const target = parseFieldKey(key);
    if (target.kind === 'standard' || customFields === null || byKey.has(target.key)) resolved.set(local, target);
    else if (byLabel.has(target.key.toLowerCase())) resolved.set(local, { kind: 'custom', key: byLabel.get(target.key.toLowerCase())! });
    else unknown.push(`${local} → ${key}`);
  }
  if (unknown.length > 0) throw new CrmError('permanent', `Kit has no custom field with the key of: ${unknown.join(', ')}`);
  return resolved;
}

function emptyToNull(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  return typeof value === 'string' ? value : String(value);
}

export function toSnapshot(subscriber: KitSubscriber, tags: readonly Pick<KitTag, 'name'>[], fieldMap: ResolvedFieldMap, readAt: number): ContactSnapshot {
  const fields: FieldValues = {};
  for (const [local, target] of fieldMap) {
    fields[local] = emptyToNull(target.kind === 'standard' ? subscriber[target.key] : subscriber.fields?.[target.key]);
  }
  const names: string[] = [];
  for (const tag of tags) if (tag.name && !names.includes(tag.name)) names.push(tag.name);
  return { contactId: String(subscriber.id), email: emptyToNull(subscriber.email_address), tags: names, fields, readAt };
}

export interface KitWrite {
  first_name?: string;
  email_address?: string;
  fields: Record<string, string>;
}

/** Local values → subscriber attributes and custom fields. `null` writes `""`. An unmapped field is refused. */
export function toKitWrite(values: FieldValues, fieldMap: ResolvedFieldMap): KitWrite {
  const unmapped = Object.keys(values).filter((local) => !fieldMap.has(local));
  if (unmapped.length > 0) throw new CrmError('permanent', `no Kit field is mapped for: ${unmapped.join(', ')}`);
  const write: KitWrite = { fields: {} };
  for (const [local, value] of Object.entries(values)) {
    const target = fieldMap.get(local)!;
    if (target.kind === 'standard') write[target.key] = value ?? '';
    else write.fields[target.key] = value ?? '';
  }
  return write;
}

/** Whether the subscriber Kit answered already holds these values ("" and null alike). */
export function fieldsApplied(subscriber: KitSubscriber, write: KitWrite): boolean {
  if (write.first_name !== undefined && (subscriber.first_name ?? '') !== write.first_name) return false;
  return Object.entries(write.fields).every(([key, value]) => (subscriber.fields?.[key] ?? '') === value);
}

export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

export function uniqueTagNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(tagKey(tag))) seen.set(tagKey(tag), tag.trim());
  return [...seen.values()];
}

export const SUBSCRIBER_ID = /^\d+$/;
