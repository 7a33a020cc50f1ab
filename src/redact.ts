/**
 * Removes secrets before anything is logged, stored as context or rendered: values under
 * secret-looking keys, and any occurrence of the configured secrets themselves.
 */
const SECRET_KEY = /(access_?key|api_?key|token|secret|password|authorization|cookie|signature)/i;

export type Redactor = <T>(value: T) => T;

export function createRedactor(secrets: () => readonly (string | null | undefined)[]): Redactor {
  const scrub = (text: string): string => {
    let out = text;
    for (const s of secrets()) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
    return out;
  };
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return scrub(value);
    if (depth > 8 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== null && v !== '' ? '[redacted]' : walk(v, depth + 1);
    return out;
  };
  return <T>(value: T): T => walk(value, 0) as T;
}
