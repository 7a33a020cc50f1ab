import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { MlSubscriber } from './types.js';
import { toText } from '../field-text.js';

/**
 * Pure translation between MailerLite shapes and crmsync's contacts.
 *
 * A field map value (local name → MailerLite key) is `email` (the subscriber's address) or a
 * field **key** as `GET /fields` lists it: `name` (the first name), `last_name`, `phone`,
 * `company`, `z_i_p`… Keys are lower case; the map is matched case-insensitively.
 */
export function fieldKey(key: string): string {
  return key.trim().toLowerCase();
}

/**
 * A subscriber with its `groups` → snapshot. The single-subscriber GET embeds the groups with
 * their names, so no lookup is needed; a body without `groups` cannot say which tags the contact
 * has and is refused rather than read as "no tags" (which would remove every local tag).
 */
export function toSnapshot(subscriber: MlSubscriber, fieldMap: FieldMap, readAt: number): ContactSnapshot {
  if (!Array.isArray(subscriber.groups)) {
    throw new CrmError('transient', `MailerLite answered subscriber ${subscriber.id} without its groups`);
  }
  const values = new Map(Object.entries(subscriber.fields ?? {}).map(([k, v]) => [fieldKey(k), v]));
  const fields: FieldValues = {};
  for (const [local, key] of Object.entries(fieldMap)) {
    fields[local] = fieldKey(key) === 'email' ? toText(subscriber.email) : toText(values.get(fieldKey(key)));
  }
  const tags: string[] = [];
  for (const group of subscriber.groups) if (typeof group?.name === 'string' && !tags.includes(group.name)) tags.push(group.name);
  return { contactId: String(subscriber.id), email: toText(subscriber.email), tags, fields, readAt };
}

/** Local field values → MailerLite `fields` (null clears; an e-mail field is left out: it is the key). */
export function toFields(values: FieldValues, fieldMap: FieldMap): Record<string, string | null> {
  const unmapped = Object.keys(values).filter((local) => fieldMap[local] === undefined);
  if (unmapped.length > 0) throw new CrmError('permanent', `no MailerLite field is mapped for: ${unmapped.join(', ')}`);
  const fields: Record<string, string | null> = {};
  for (const [local, value] of Object.entries(values)) {
    const key = fieldKey(fieldMap[local]!);
    if (key === 'email') continue;
    fields[key] = value === '' ? null : value;
  }
  return fields;
}

/** Group names are matched case-insensitively, trimmed; MailerLite's spelling is returned. */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

/** A subscriber reference as the API takes it: a numeric id (kept as text) or an e-mail. */
export function contactRef(value: unknown): string | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? String(value) : null;
  if (typeof value !== 'string') return null;
  const ref = value.trim();
  if (/^\d{1,30}$/.test(ref)) return ref;
  if (/^[^@\s/]+@[^@\s/]+$/.test(ref)) return ref.toLowerCase();
  return null;
}
