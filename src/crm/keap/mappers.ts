import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { KeapContact, KeapContactWrite } from './types.js';
import { toText } from '../field-text.js';

/**
 * Pure translation between Keap contacts and crmsync's contacts.
 *
 * A field map value (local name → Keap key) is one of:
 * - a standard contact property: `given_name`, `family_name`, `middle_name`, `preferred_name`,
 *   `job_title`, `website`, `time_zone`;
 * - a phone slot: `PHONE1` … `PHONE5` (`phone_numbers[field=PHONEn].number`);
 * - `custom:<id>` or `custom_fields.<id>`: a custom field by its numeric id (`GET /contactCustomFields`).
 */
export const STANDARD_KEYS = ['given_name', 'family_name', 'middle_name', 'preferred_name', 'job_title', 'website', 'time_zone'] as const;
export type StandardKey = (typeof STANDARD_KEYS)[number];

export type KeapField = { kind: 'standard'; key: StandardKey } | { kind: 'phone'; slot: string } | { kind: 'custom'; id: number };
export type ResolvedFieldMap = Map<string, KeapField>;

export function parseFieldKey(key: string): KeapField {
  const trimmed = key.trim();
  if ((STANDARD_KEYS as readonly string[]).includes(trimmed)) return { kind: 'standard', key: trimmed as StandardKey };
  const phone = /^PHONE([1-5])$/i.exec(trimmed);
  if (phone) return { kind: 'phone', slot: `PHONE${phone[1]}` };
  const custom = /^(?:custom:|custom_fields\.)(\d+)$/.exec(trimmed);
  if (custom) return { kind: 'custom', id: Number(custom[1]) };
  throw new CrmError('permanent', `Keap: unknown field key "${key}" (use a contact property such as given_name, PHONE1…PHONE5, or custom:<id>)`);
}

export function resolveFieldMap(fieldMap: FieldMap): ResolvedFieldMap {
  return new Map(Object.entries(fieldMap).map(([local, key]) => [local, parseFieldKey(key)]));
}

/** The contact's primary e-mail: EMAIL1, else the first one. */
export function primaryEmail(contact: KeapContact): string | null {
  const list = contact.email_addresses ?? [];
  return toText((list.find((e) => e.field === 'EMAIL1') ?? list[0])?.email);
}

export function toSnapshot(contact: KeapContact, fieldMap: ResolvedFieldMap, tagNames: ReadonlyMap<string, string>, readAt: number): ContactSnapshot {
  const fields: FieldValues = {};
  for (const [local, target] of fieldMap) {
    if (target.kind === 'standard') fields[local] = toText(contact[target.key]);
    else if (target.kind === 'phone') fields[local] = toText(contact.phone_numbers?.find((p) => p.field === target.slot)?.number);
    else fields[local] = toText(contact.custom_fields?.find((c) => Number(c.id) === target.id)?.content);
  }
  const tags: string[] = [];
  for (const id of contact.tag_ids ?? []) {
    const name = tagNames.get(String(id));
    if (name !== undefined && !tags.includes(name)) tags.push(name);
  }
  return { contactId: String(contact.id), email: primaryEmail(contact), tags, fields, readAt };
}

/**
 * Local field values → a Keap contact body. Unmapped local fields are refused; null writes "".
 * `phone_numbers` replaces the contact's list on PATCH, so the other slots are passed in from the
 * current contact when known (`current`).
 */
export function toKeapWrite(fields: FieldValues, fieldMap: ResolvedFieldMap, current?: KeapContact): KeapContactWrite {
  const unmapped = Object.keys(fields).filter((local) => !fieldMap.has(local));
  if (unmapped.length > 0) throw new CrmError('permanent', `no Keap field is mapped for: ${unmapped.join(', ')}`);
  const write: KeapContactWrite = {};
  for (const [local, value] of Object.entries(fields)) {
    const target = fieldMap.get(local)!;
    if (target.kind === 'standard') write[target.key] = value ?? '';
    else if (target.kind === 'custom') (write.custom_fields ??= []).push({ id: target.id, content: value ?? '' });
    else {
      write.phone_numbers ??= (current?.phone_numbers ?? []).map((p) => ({ number: p.number, field: p.field }));
      write.phone_numbers = write.phone_numbers.filter((p) => p.field !== target.slot);
      if (value) write.phone_numbers.push({ number: value, field: target.slot });
    }
  }
  return write;
}

/** Whether writing these fields needs the contact's current phone list (PATCH replaces the list). */
export function writesPhone(fields: FieldValues, fieldMap: ResolvedFieldMap): boolean {
  return Object.keys(fields).some((local) => fieldMap.get(local)?.kind === 'phone');
}

/** Tag names are matched case-insensitively, trimmed. */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

export function uniqueNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(tagKey(tag))) seen.set(tagKey(tag), tag.trim());
  return [...seen.values()];
}
