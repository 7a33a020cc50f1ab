import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { DripSubscriber, DripSubscriberWrite } from './types.js';
import { toText } from '../field-text.js';

/**
 * Pure translation between Drip subscribers and crmsync's contacts.
 *
 * A field map value (local name → Drip key) is one of:
 * - a standard subscriber property: `first_name`, `last_name`, `phone`, `address1`, `address2`,
 *   `city`, `state`, `zip`, `country`, `sms_number`, `time_zone`, `user_id`;
 * - `custom_fields.<identifier>`: a custom field (explicitly);
 * - anything else: a custom field identifier (`shirt_size`), as `GET /custom_field_identifiers` lists them.
 */
export const STANDARD_KEYS = ['first_name', 'last_name', 'phone', 'address1', 'address2', 'city', 'state', 'zip', 'country', 'sms_number', 'time_zone', 'user_id'] as const;
export type StandardKey = (typeof STANDARD_KEYS)[number];

export type DripField = { kind: 'standard'; key: StandardKey } | { kind: 'custom'; identifier: string };
export type ResolvedFieldMap = Map<string, DripField>;

export function parseFieldKey(key: string): DripField {
  const trimmed = key.trim();
  if ((STANDARD_KEYS as readonly string[]).includes(trimmed)) return { kind: 'standard', key: trimmed as StandardKey };
  const identifier = trimmed.replace(/^custom_fields\./, '');
  if (!identifier) throw new CrmError('permanent', `Drip: empty custom field identifier in the field map (${key})`);
  return { kind: 'custom', identifier };
}

export function resolveFieldMap(fieldMap: FieldMap): ResolvedFieldMap {
  return new Map(Object.entries(fieldMap).map(([local, key]) => [local, parseFieldKey(key)]));
}

export function toSnapshot(subscriber: DripSubscriber, fieldMap: ResolvedFieldMap, readAt: number): ContactSnapshot {
  const fields: FieldValues = {};
  for (const [local, target] of fieldMap) {
    fields[local] = toText(target.kind === 'standard' ? subscriber[target.key] : subscriber.custom_fields?.[target.identifier]);
  }
  const tags: string[] = [];
  for (const tag of subscriber.tags ?? []) if (typeof tag === 'string' && !tags.includes(tag)) tags.push(tag);
  return { contactId: String(subscriber.id), email: toText(subscriber.email), tags, fields, readAt };
}

/** Local field values → the members of a `POST /subscribers` entry. An unmapped local field is refused; null writes "". */
export function toDripWrite(fields: FieldValues, fieldMap: ResolvedFieldMap): DripSubscriberWrite {
  const unmapped = Object.keys(fields).filter((local) => !fieldMap.has(local));
  if (unmapped.length > 0) throw new CrmError('permanent', `no Drip field is mapped for: ${unmapped.join(', ')}`);
  const write: DripSubscriberWrite = {};
  for (const [local, value] of Object.entries(fields)) {
    const target = fieldMap.get(local)!;
    if (target.kind === 'standard') write[target.key] = value ?? '';
    else (write.custom_fields ??= {})[target.identifier] = value ?? '';
  }
  return write;
}

/** Whether a write carries anything besides the identifier. */
export function hasChanges(write: DripSubscriberWrite): boolean {
  return Object.keys(write).length > 0;
}

/** Tag names compared case-insensitively when deduplicating a request. */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

export function uniqueNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(tagKey(tag))) seen.set(tagKey(tag), tag.trim());
  return [...seen.values()];
}
