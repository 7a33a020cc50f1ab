/**
 * A CRM field value as crmsync's text: empty, missing and null read as null (CRMs answer an
 * empty field in any of these ways); numbers and booleans as their text; anything else (a date
 * object, a list) as its JSON.
 */
export function toText(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
