import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import type { FieldMap } from '../types.js';
import type { RawContact, RawContactWrite } from './types.js';

/**
 * Pure translations between the sandbox's contacts and crmsync's. Only mapped fields travel:
 * `fieldMap` is local name → sandbox field key, on top of the standard fields the sandbox
 * always has (first_name, last_name, phone under the same names). `email` is never a field:
 * it is the contact's e-mail.
 */
export const defaultFieldMap: FieldMap = { first_name: 'first_name', last_name: 'last_name', phone: 'phone' };

export function effectiveFieldMap(fieldMap: FieldMap): FieldMap {
  const map: FieldMap = { ...defaultFieldMap, ...fieldMap };
  delete map.email;
  return map;
}

/** A sandbox contact as crmsync sees it; mapped fields the contact lacks are null. */
export function toSnapshot(raw: RawContact, fieldMap: FieldMap, readAt: number): ContactSnapshot {
  const fields: FieldValues = {};
  for (const [local, key] of Object.entries(fieldMap)) fields[local] = raw.fields[key] ?? null;
  return { contactId: raw.id, email: raw.email, tags: [...raw.tags].sort(), fields, readAt };
}

/** Local field values → sandbox field keys; unmapped local fields are left out. */
export function toSandboxFields(fields: FieldValues, fieldMap: FieldMap): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [local, value] of Object.entries(fields)) {
    const key = fieldMap[local];
    if (key !== undefined) out[key] = value;
  }
  return out;
}

export function toContactWrite(draft: ContactDraft, fieldMap: FieldMap): RawContactWrite {
  return { email: draft.email, fields: toSandboxFields(draft.fields, fieldMap) };
}
