import type { ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { FieldMap } from '../types.js';
import type { KlaviyoProfile } from './types.js';
import { toText } from '../field-text.js';

/**
 * Pure translation between Klaviyo profiles and crmsync's contacts.
 *
 * A field map value (local name → Klaviyo key) is one of:
 * - a standard profile attribute: `email`, `phone_number`, `external_id`, `first_name`,
 *   `last_name`, `organization`, `title`, `locale`, `image`;
 * - `location.<key>` (`location.city`, `location.zip`…);
 * - `properties.<name>`, or any other name: a custom property.
 */
export const STANDARD_ATTRIBUTES = ['email', 'phone_number', 'external_id', 'first_name', 'last_name', 'organization', 'title', 'locale', 'image'] as const;

export type FieldTarget = { kind: 'standard'; key: string } | { kind: 'location'; key: string } | { kind: 'property'; key: string };

export function fieldTarget(key: string): FieldTarget {
  const k = key.trim();
  if ((STANDARD_ATTRIBUTES as readonly string[]).includes(k)) return { kind: 'standard', key: k };
  if (k.startsWith('location.')) return { kind: 'location', key: k.slice('location.'.length) };
  return { kind: 'property', key: k.startsWith('properties.') ? k.slice('properties.'.length) : k };
}

export function toSnapshot(profile: KlaviyoProfile, listIds: readonly string[], listNames: ReadonlyMap<string, string>, fieldMap: FieldMap, readAt: number): ContactSnapshot {
  const a = profile.attributes ?? {};
  const fields: FieldValues = {};
  for (const [local, key] of Object.entries(fieldMap)) {
    const target = fieldTarget(key);
    const source: Record<string, unknown> =
      target.kind === 'standard' ? (a as Record<string, unknown>) : target.kind === 'location' ? (a.location ?? {}) : (a.properties ?? {});
    fields[local] = toText(source[target.key]);
  }
  const tags: string[] = [];
  for (const id of listIds) {
    const name = listNames.get(id);
    if (name !== undefined && !tags.includes(name)) tags.push(name);
  }
  return { contactId: profile.id, email: toText(a.email), tags, fields, readAt };
}

export interface KlaviyoWrite {
  /** Profile attributes (standard keys, `location`, `properties` with the non-null custom values). */
  attributes: Record<string, unknown>;
  /** Custom properties to clear (`meta.patch_properties.unset`). */
  unset: string[];
}

/** Local values → profile attributes. Standard/location nulls are sent as null (clears); custom nulls are unset. */
export function toWrite(fields: FieldValues, fieldMap: FieldMap): KlaviyoWrite {
  const unmapped = Object.keys(fields).filter((local) => fieldMap[local] === undefined);
  if (unmapped.length > 0) throw new CrmError('permanent', `no Klaviyo profile field is mapped for: ${unmapped.join(', ')}`);
  const attributes: Record<string, unknown> = {};
  const location: Record<string, string | null> = {};
  const properties: Record<string, string> = {};
  const unset: string[] = [];
  for (const [local, value] of Object.entries(fields)) {
    const target = fieldTarget(fieldMap[local]!);
    if (target.kind === 'standard') attributes[target.key] = value;
    else if (target.kind === 'location') location[target.key] = value;
    else if (value === null) unset.push(target.key);
    else properties[target.key] = value;
  }
  if (Object.keys(location).length > 0) attributes.location = location;
  if (Object.keys(properties).length > 0) attributes.properties = properties;
  return { attributes, unset };
}

/** List names are matched case-insensitively, trimmed; Klaviyo's spelling is returned. */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * Klaviyo profile ids: 26-character ULID-like strings; profiles created before that change keep
 * a six-character id, "still correct and unique" (Klaviyo help centre, "Find a profile ID").
 */
export function isProfileId(ref: string): boolean {
  return /^[0-9A-Za-z]{6,64}$/.test(ref);
}
