import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { HsList, HsObject } from './types.js';

/**
 * Pure translation between HubSpot shapes and crmsync's contacts. A field map value (local
 * name → HubSpot key) is a contact property's **internal name** (`firstname`, `lastname`,
 * `phone`, `company`, a custom property's name…) as `GET /crm/v3/properties/contacts` lists it.
 */

/** Internal property names are lower-case letters, digits and underscores. */
const PROPERTY_NAME = /^[a-z0-9_]+$/;

/** Checks the field map once; a key that cannot be a property name is a configuration error. */
export function checkFieldMap(fieldMap: FieldMap): FieldMap {
  const bad = Object.entries(fieldMap).filter(([, key]) => !PROPERTY_NAME.test(key));
  if (bad.length > 0) {
    throw new CrmError('permanent', `not HubSpot property internal names (lower-case, e.g. "firstname"): ${bad.map(([l, k]) => `${l} → ${k}`).join(', ')}`);
  }
  return fieldMap;
}

/** The properties to request on a read: `email` and every mapped property, once each. */
export function propertiesToRead(fieldMap: FieldMap): string[] {
  return [...new Set(['email', ...Object.values(fieldMap)])];
}

/** HubSpot answers `null` for a requested empty property and may answer `""`; crmsync says null. */
function emptyToNull(value: string | null | undefined): string | null {
  return value === undefined || value === null || value === '' ? null : value;
}

export function toSnapshot(contact: HsObject, tags: readonly string[], fieldMap: FieldMap, readAt: number): ContactSnapshot {
  const props = contact.properties ?? {};
  const fields: FieldValues = {};
  for (const [local, key] of Object.entries(fieldMap)) fields[local] = emptyToNull(props[key]);
  return { contactId: String(contact.id), email: emptyToNull(props.email), tags: [...new Set(tags)], fields, readAt };
}

/**
 * Local field values → HubSpot properties. `null` is written as `""`, which HubSpot documents
 * as clearing the value. An unmapped local field is refused before any call.
 */
export function toProperties(fields: FieldValues, fieldMap: FieldMap): Record<string, string> {
  const unmapped = Object.keys(fields).filter((local) => !(local in fieldMap));
  if (unmapped.length > 0) throw new CrmError('permanent', `no HubSpot property is mapped for: ${unmapped.join(', ')}`);
  const properties: Record<string, string> = {};
  for (const [local, value] of Object.entries(fields)) properties[fieldMap[local]!] = value ?? '';
  return properties;
}

/** Lists are matched by name case-insensitively (names are unique per account in HubSpot's UI). */
export function listKey(name: string): string {
  return name.trim().toLowerCase();
}

/** Only static lists take membership changes through the API, so only they are crmsync tags. */
export function isTagList(list: HsList): boolean {
  return (list.processingType ?? 'MANUAL') === 'MANUAL' && (list.objectTypeId ?? '0-1') === '0-1';
}
