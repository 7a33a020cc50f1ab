/**
 * Removes secrets before anything is logged, stored as context or rendered: values under
 * secret-looking keys, and any occurrence of the configured secrets themselves.
 */
const SECRET_KEY = /(access_?key|api_?key|token|secret|password|authorization|cookie|signature)/i;

export type Redactor = <T>(value: T) => T;

export function createRedactor(secrets: () => readonly (string | null | undefined)[]): Redactor {
  const walk = (value: unknown, known: readonly string[], depth: number): unknown => {
    if (typeof value === 'string') {
      let out = value;
      for (const s of known) if (out.includes(s)) out = out.split(s).join('[redacted]');
      return out;
    }
    if (depth > 8 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => walk(v, known, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== null && v !== '' ? '[redacted]' : walk(v, known, depth + 1);
    return out;
  };
  // Secrets shorter than 4 characters would redact ordinary text.
  return <T>(value: T): T => walk(value, secrets().filter((s): s is string => !!s && s.length >= 4), 0) as T;
}
