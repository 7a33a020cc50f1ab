import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { MauticContact, MauticFieldValue } from './types.js';
import { toText } from '../field-text.js';

/**
 * Pure translation between Mautic shapes and crmsync's contacts.
 *
 * A field map value (local name → Mautic key) is a contact field **alias** (`firstname`,
 * `lastname`, `email`, `phone`, `mobile`, or a custom field's alias). Aliases are lower case in
 * Mautic; the map is matched case-insensitively and sent lower-cased.
 */
export function fieldAlias(key: string): string {
  return key.trim().toLowerCase();
}

const isRecord = (value: unknown): value is Record<string, unknown> => !!value && typeof value === 'object' && !Array.isArray(value);

/**
 * Every field value of a contact, by lower-cased alias: from the groups (`core`, `social`…,
 * which webhook payloads carry), then the flat `all` map (which API responses carry) on top.
 */
export function fieldValues(contact: MauticContact): Map<string, unknown> {
  const values = new Map<string, unknown>();
  const fields = contact.fields;
  if (!isRecord(fields)) return values;
  for (const [group, entries] of Object.entries(fields)) {
    if (group === 'all' || !isRecord(entries)) continue;
    for (const [alias, entry] of Object.entries(entries)) {
      if (!isRecord(entry)) continue;
      const field = entry as MauticFieldValue;
      values.set(fieldAlias(typeof field.alias === 'string' ? field.alias : alias), field.value);
    }
  }
  if (isRecord(fields.all)) for (const [alias, value] of Object.entries(fields.all)) values.set(fieldAlias(alias), value);
  return values;
}

/** The contact's e-mail, or null (an anonymous visitor has none). */
export function contactEmail(contact: MauticContact): string | null {
  return toText(fieldValues(contact).get('email'));
}

/** Tag names from `tags: [{tag: "a"}, …]`, in order, deduplicated; anything else (the test payload's `[[]]`) is skipped. */
export function tagNames(contact: MauticContact): string[] {
  const names: string[] = [];
  for (const item of contact.tags ?? []) {
    const name = isRecord(item) && typeof item.tag === 'string' ? item.tag : typeof item === 'string' ? item : null;
    if (name !== null && name.trim() && !names.includes(name)) names.push(name);
  }
  return names;
}

export function toSnapshot(contact: MauticContact, fieldMap: FieldMap, readAt: number): ContactSnapshot {
  const values = fieldValues(contact);
  const fields: FieldValues = {};
  for (const [local, key] of Object.entries(fieldMap)) fields[local] = toText(values.get(fieldAlias(key)));
  return { contactId: String(contact.id), email: toText(values.get('email')), tags: tagNames(contact), fields, readAt };
}

/**
 * Local field values → a contact edit body (`alias → value`). Mautic skips empty values unless
 * the body says `overwriteWithBlank: true` ("Mautic only treats null and empty strings as empty
 * values"), so a null is sent as `""` with that flag — it only concerns the fields sent.
 */
export function toFieldBody(fields: FieldValues, fieldMap: FieldMap): Record<string, string | boolean> {
  const unmapped = Object.keys(fields).filter((local) => fieldMap[local] === undefined);
  if (unmapped.length > 0) throw new CrmError('permanent', `no Mautic field alias is mapped for: ${unmapped.join(', ')}`);
  const body: Record<string, string | boolean> = {};
  for (const [local, value] of Object.entries(fields)) {
    body[fieldAlias(fieldMap[local]!)] = value ?? '';
    if (value === null || value === '') body.overwriteWithBlank = true;
  }
  return body;
}

/** Tag names are matched case-insensitively, trimmed; the CRM's spelling is returned. */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * Tag names for one edit, deduplicated case-insensitively. A leading `-` means "remove" in
 * Mautic's edit payload, so such a name cannot be applied: refused rather than silently inverted.
 */
export function tagNamesForEdit(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) {
    const name = tag.trim();
    if (!name) continue;
    if (name.startsWith('-')) throw new CrmError('permanent', `Mautic cannot take the tag "${name.slice(0, 100)}": a leading "-" means "remove this tag" in its API`);
    if (!seen.has(tagKey(name))) seen.set(tagKey(name), name);
  }
  return [...seen.values()];
}

/** Mautic contact ids are positive integers. */
export function isContactId(ref: string): boolean {
  return /^[1-9]\d{0,18}$/.test(ref);
}

/** `contacts`/`tags`/`fields` of a list answer: an object keyed by id, an array, or `[]`. */
export function entries<T>(value: Record<string, T> | T[] | undefined | null): T[] {
  if (!value) return [];
  return Array.isArray(value) ? value : Object.values(value);
}
