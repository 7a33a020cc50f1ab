import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import type { FieldMap } from '../types.js';
import { CrmError } from '../errors.js';
import type { AcContact, AcContactTag, AcField, AcFieldValue } from './types.js';

/**
 * Pure translation between ActiveCampaign shapes and crmsync's contacts.
 *
 * A field map value (local name → AC key) is one of:
 * - a standard contact key: `email`, `firstName`, `lastName`, `phone`;
 * - `field:<id>`: a custom field by its numeric id (as in `GET /api/3/fields`);
 * - anything else: a custom field by its personalization tag (`CONTACT_OWNER`, `%CONTACT_OWNER%`,
 *   case-insensitive), resolved to an id through `GET /api/3/fields`.
 */
export const STANDARD_KEYS = ['email', 'firstName', 'lastName', 'phone'] as const;
export type StandardKey = (typeof STANDARD_KEYS)[number];

export type FieldKey = { kind: 'standard'; key: StandardKey } | { kind: 'id'; id: string } | { kind: 'perstag'; perstag: string };
export type ResolvedField = { kind: 'standard'; key: StandardKey } | { kind: 'custom'; id: string };
export type ResolvedFieldMap = Map<string, ResolvedField>;

export function parseFieldKey(key: string): FieldKey {
  if ((STANDARD_KEYS as readonly string[]).includes(key)) return { kind: 'standard', key: key as StandardKey };
  const byId = /^field:(\d+)$/.exec(key);
  if (byId) return { kind: 'id', id: byId[1]! };
  return { kind: 'perstag', perstag: normalisePerstag(key) };
}

export function normalisePerstag(perstag: string): string {
  return perstag.trim().replace(/^%|%$/g, '').toUpperCase();
}

/** Whether resolving this field map needs the account's field list (a perstag is used). */
export function needsFieldList(fieldMap: FieldMap): boolean {
  return Object.values(fieldMap).some((key) => parseFieldKey(key).kind === 'perstag');
}

/** Resolves every mapped field to a standard key or a custom field id; an unknown perstag is a config error. */
export function resolveFieldMap(fieldMap: FieldMap, fields: readonly AcField[]): ResolvedFieldMap {
  const byPerstag = new Map(fields.filter((f) => f.perstag).map((f) => [normalisePerstag(f.perstag!), f.id]));
  const resolved: ResolvedFieldMap = new Map();
  const unknown: string[] = [];
  for (const [local, key] of Object.entries(fieldMap)) {
    const parsed = parseFieldKey(key);
    if (parsed.kind === 'standard') resolved.set(local, parsed);
    else if (parsed.kind === 'id') resolved.set(local, { kind: 'custom', id: parsed.id });
    else {
      const id = byPerstag.get(parsed.perstag);
      if (id) resolved.set(local, { kind: 'custom', id });
      else unknown.push(`${local} → ${key}`);
    }
  }
  if (unknown.length > 0) {
    throw new CrmError('permanent', `ActiveCampaign has no custom field with the personalization tag of: ${unknown.join(', ')}`);
  }
  return resolved;
}

/** AC answers "" for an empty standard field; crmsync says null. */
function emptyToNull(value: string | null | undefined): string | null {
  return value === undefined || value === null || value === '' ? null : value;
}

export interface SnapshotInput {
  contact: AcContact;
  /** This contact's contactTag links (others are ignored). */
  contactTags: readonly AcContactTag[];
  /** This contact's custom field values (others are ignored). */
  fieldValues: readonly AcFieldValue[];
  tagNames: ReadonlyMap<string, string>;
  fieldMap: ResolvedFieldMap;
  readAt: number;
}

export function toSnapshot(input: SnapshotInput): ContactSnapshot {
  const { contact } = input;
  const tags: string[] = [];
  for (const link of input.contactTags) {
    if (link.contact !== contact.id) continue;
    const name = input.tagNames.get(link.tag);
    if (name !== undefined && !tags.includes(name)) tags.push(name);
  }
  const values = new Map<string, string | null>();
  for (const fv of input.fieldValues) if (fv.contact === contact.id) values.set(fv.field, fv.value);
  const fields: FieldValues = {};
  for (const [local, target] of input.fieldMap) {
    fields[local] = emptyToNull(target.kind === 'standard' ? contact[target.key] : values.get(target.id));
  }
  return { contactId: contact.id, email: emptyToNull(contact.email), tags, fields, readAt: input.readAt };
}

export interface AcWrite {
  /** Standard keys for `PUT /contacts/{id}` or `POST /contact/sync`. */
  contact: Partial<Record<StandardKey, string>>;
  fieldValues: { field: string; value: string }[];
}

/** Local field values → AC's contact keys and custom field values. An unmapped local field is refused. */
export function toAcWrite(fields: FieldValues, fieldMap: ResolvedFieldMap): AcWrite {
  const unmapped = Object.keys(fields).filter((local) => !fieldMap.has(local));
  if (unmapped.length > 0) {
    throw new CrmError('permanent', `no ActiveCampaign field is mapped for: ${unmapped.join(', ')}`);
  }
  const write: AcWrite = { contact: {}, fieldValues: [] };
  for (const [local, value] of Object.entries(fields)) {
    const target = fieldMap.get(local)!;
    if (target.kind === 'standard') write.contact[target.key] = value ?? '';
    else write.fieldValues.push({ field: target.id, value: value ?? '' });
  }
  return write;
}

/** Tag names are case-insensitive in ActiveCampaign ("Tags should be treated as case-insensitive"). */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}
