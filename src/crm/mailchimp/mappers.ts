import { createHash } from 'node:crypto';
import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { McMember, McMemberTag } from './types.js';

/**
 * Pure translation between Mailchimp shapes and crmsync's contacts.
 *
 * A contact is an audience (list) member; its id is the **subscriber hash**, the MD5 of the
 * lower-cased e-mail address ("the MD5 hash of the lowercase version of the list member's email
 * address"). A field map value (local name → Mailchimp key) is a **merge tag** (`FNAME`,
 * `*|FNAME|*`, case-insensitive) of the audience's merge fields.
 */
export function subscriberHash(email: string): string {
  return createHash('md5').update(email.trim().toLowerCase(), 'utf8').digest('hex');
}

export const SUBSCRIBER_HASH = /^[0-9a-f]{32}$/;

/** `*|fname|*` → `FNAME`. */
export function mergeTag(key: string): string {
  return key.trim().replace(/^\*\|/, '').replace(/\|\*$/, '').toUpperCase();
}

/** Local field name → merge tag; `EMAIL` is the member's address, not a merge field we write. */
export function resolveFieldMap(fieldMap: FieldMap): Map<string, string> {
  return new Map(Object.entries(fieldMap).map(([local, key]) => [local, mergeTag(key)]));
}

/** A merge field value as crmsync text: "" → null; numbers as text; an ADDRESS object joined. */
export function mergeValueToText(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object') {
    const parts = ['addr1', 'addr2', 'city', 'state', 'zip', 'country'].map((k) => (value as Record<string, unknown>)[k]).filter((v) => typeof v === 'string' && v !== '');
    return parts.length > 0 ? parts.join(', ') : null;
  }
  return null;
}

export function toSnapshot(member: McMember, tags: readonly McMemberTag[], fieldMap: ReadonlyMap<string, string>, readAt: number): ContactSnapshot {
  const merge = member.merge_fields ?? {};
  const fields: FieldValues = {};
  for (const [local, tag] of fieldMap) fields[local] = tag === 'EMAIL' ? member.email_address || null : mergeValueToText(merge[tag]);
  const names: string[] = [];
  for (const tag of tags) if (!names.includes(tag.name)) names.push(tag.name);
  return { contactId: member.id, email: member.email_address || null, tags: names, fields, readAt };
}

/** Local field values → `merge_fields`. `null` writes `""` (clears the field). An unmapped field is refused. */
export function toMergeFields(fields: FieldValues, fieldMap: ReadonlyMap<string, string>): Record<string, string> {
  const unmapped = Object.keys(fields).filter((local) => !fieldMap.has(local));
  if (unmapped.length > 0) throw new CrmError('permanent', `no Mailchimp merge field is mapped for: ${unmapped.join(', ')}`);
  const merge: Record<string, string> = {};
  for (const [local, value] of Object.entries(fields)) {
    const tag = fieldMap.get(local)!;
    if (tag === 'EMAIL') continue; // the address is the member's identity, written as email_address
    merge[tag] = value ?? '';
  }
  return merge;
}

/** Tag names, trimmed, without empties and case-insensitive duplicates, first spelling kept. */
export function uniqueTagNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) {
    const name = tag.trim();
    if (name && !seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
  }
  return [...seen.values()];
}
