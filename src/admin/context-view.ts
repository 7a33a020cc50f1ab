import { html, type Html } from './html.js';

/**
 * Keys whose values are never shown, whatever wrote them. The log writer already redacts known
 * secrets by value; this catches a secret under a telling name that it did not know of.
 */
const SECRET_KEY = /(^|_)(access_?key|api_?key|token|password|secret|authorization|signature)$/i;

export function maskSecrets(value: unknown, depth = 0): unknown {
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) && v !== null && v !== '' ? '[redacted]' : maskSecrets(v, depth + 1)]));
}

/** A log entry's context (loaded fields and tags, the diff, the request) as escaped, indented JSON. */
export function contextBlock(context: Record<string, unknown> | null, summary = 'Context'): Html {
  if (!context || Object.keys(context).length === 0) return html``;
  return html`<details><summary>${summary}</summary><pre>${JSON.stringify(maskSecrets(context), null, 2)}</pre></details>`;
}
