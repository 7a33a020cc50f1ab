import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signing and verifying per the Standard Webhooks specification (symmetric scheme, `v1`):
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 *
 * - headers `webhook-id`, `webhook-timestamp` (integer seconds), `webhook-signature`;
 * - the signed content is `{id}.{timestamp}.{body}`, HMAC-SHA256, base64, prefixed `v1,`;
 * - secrets are `whsec_` + base64 of the key; during a rotation the message is signed with
 *   every active secret and the signatures are space-separated.
 */
const PREFIX = 'whsec_';
/** The spec's default tolerance for the timestamp, both ways. */
export const TOLERANCE_SECONDS = 5 * 60;

/** A new secret: 32 random bytes (the spec asks for 24 to 64). */
export function newSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/** The HMAC key of a secret: the base64-decoded part after `whsec_` (the prefix is optional). */
export function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('a webhook secret is whsec_ followed by base64');
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new Error('a webhook secret cannot be empty');
  return key;
}

export interface SignedMessage {
  id: string;
  /** Seconds since 1970 (the attempt's time, not the event's). */
  timestamp: number;
  body: string | Buffer;
}

function digest(key: Buffer, message: SignedMessage): Buffer {
  return createHmac('sha256', key).update(`${message.id}.${message.timestamp}.`).update(message.body).digest();
}

/** The `webhook-signature` value: one `v1,…` per secret, space-separated, in the order given. */
export function sign(secrets: readonly string[], message: SignedMessage): string {
  if (secrets.length === 0) throw new Error('at least one secret is needed to sign');
  if (/[.\s]/.test(message.id)) throw new Error('a webhook id cannot contain dots or spaces');
  return secrets.map((s) => `v1,${digest(secretKey(s), message).toString('base64')}`).join(' ');
}

/** The three headers of a signed delivery. */
export function signatureHeaders(secrets: readonly string[], message: SignedMessage): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return { 'webhook-id': message.id, 'webhook-timestamp': String(message.timestamp), 'webhook-signature': sign(secrets, message) };
}

export type VerifyResult =
  | { valid: true; id: string; timestamp: number }
  | { valid: false; reason: 'missing_headers' | 'invalid_timestamp' | 'timestamp_out_of_tolerance' | 'no_matching_signature' };

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const found = Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(found) ? (found[0] ?? null) : (found ?? null);
}

/**
 * Verifies a delivery over its raw body: any `v1` signature made with any of `secrets` is
 * accepted (rotation), compared in constant time; the timestamp must be within `tolerance`
 * seconds of `nowSeconds`. Signatures of other versions (`v1a`, …) are skipped.
 */
export function verify(
  secrets: string | readonly string[],
  body: string | Buffer,
  headers: HeaderSource,
  options: { nowSeconds?: number; toleranceSeconds?: number } = {},
): VerifyResult {
  const id = header(headers, 'webhook-id');
  const stamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !stamp || !signatures) return { valid: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(stamp)) return { valid: false, reason: 'invalid_timestamp' };
  const timestamp = Number(stamp);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? TOLERANCE_SECONDS)) return { valid: false, reason: 'timestamp_out_of_tolerance' };
  const expected = (typeof secrets === 'string' ? [secrets] : secrets).map((s) => digest(secretKey(s), { id, timestamp, body }));
  for (const entry of signatures.split(' ')) {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    if (expected.some((e) => e.length === given.length && timingSafeEqual(e, given))) return { valid: true, id, timestamp };
  }
  return { valid: false, reason: 'no_matching_signature' };
}
