import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { BrevoContact } from './types.js';
import { toText } from '../field-text.js';

/**
 * Pure translation between Brevo shapes and crmsync's contacts.
 *
 * A field map value (local name → Brevo key) is `email` or a contact **attribute name**
 * (`FIRSTNAME`, `LASTNAME`, `SMS`, or any custom attribute). Brevo attribute names are upper
 * case; the map is matched case-insensitively and sent upper-cased.
 */
export function attributeKey(key: string): string {
  return key.trim().toUpperCase();
}

export function toSnapshot(contact: BrevoContact, listNames: ReadonlyMap<string, string>, fieldMap: FieldMap, readAt: number): ContactSnapshot {
  const attributes = new Map(Object.entries(contact.attributes ?? {}).map(([k, v]) => [attributeKey(k), v]));
  const fields: FieldValues = {};
  for (const [local, key] of Object.entries(fieldMap)) {
    fields[local] = attributeKey(key) === 'EMAIL' ? toText(contact.email) : toText(attributes.get(attributeKey(key)));
  }
  const tags: string[] = [];
  for (const id of contact.listIds ?? []) {
    const name = listNames.get(String(id));
    if (name !== undefined && !tags.includes(name)) tags.push(name);
  }
  return { contactId: String(contact.id), email: toText(contact.email), tags, fields, readAt };
}

/** Local field values → Brevo `attributes` (an e-mail field is left out: upsert sends it on its own). */
export function toAttributes(fields: FieldValues, fieldMap: FieldMap): Record<string, string> {
  const unmapped = Object.keys(fields).filter((local) => fieldMap[local] === undefined);
  if (unmapped.length > 0) throw new CrmError('permanent', `no Brevo attribute is mapped for: ${unmapped.join(', ')}`);
  const attributes: Record<string, string> = {};
  for (const [local, value] of Object.entries(fields)) {
    const key = attributeKey(fieldMap[local]!);
    if (key === 'EMAIL') continue;
    attributes[key] = value ?? '';
  }
  return attributes;
}

/** List names are matched case-insensitively, trimmed; the CRM's spelling is returned. */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

/** Brevo contact ids are positive integers; a contact can also be addressed by e-mail. */
export function isContactId(ref: string): boolean {
  return /^\d+$/.test(ref);
}
