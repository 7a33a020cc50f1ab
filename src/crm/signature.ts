import { createHmac, timingSafeEqual } from 'node:crypto';
import { CrmWebhookError } from './errors.js';

/**
 * The timestamped HMAC scheme Kit and Mailchimp share (the one Stripe made common):
 * `Header: t={unix seconds},v1={hex}[,v1={hex}…]`, each `v1` = hex HMAC-SHA256(secret,
 * `"{t}.{raw body}"`). Several `v1` appear during a secret rotation: any match passes. The
 * timestamp must be within `toleranceMs` of now, which stops replays.
 */
export function verifyTimestampedHmac(check: {
  /** The CRM and header, for error messages: `Kit X-Kit-Signature`. */
  crm: string;
  header: string;
  value: string;
  secret: string;
  body: Buffer;
  now: number;
  toleranceMs: number;
}): void {
  const { crm, header, value, secret, body, now, toleranceMs } = check;
  let timestamp: string | null = null;
  const signatures: string[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const given = part.slice(eq + 1).trim();
    if (key === 't') timestamp = given;
    else if (key === 'v1') signatures.push(given);
  }
  if (!timestamp || !/^\d+$/.test(timestamp) || signatures.length === 0) {
    throw new CrmWebhookError('invalid_signature', `${crm} ${header} header is malformed (expected t=…,v1=…)`);
  }
  if (Math.abs(now - Number(timestamp) * 1000) > toleranceMs) {
    throw new CrmWebhookError('invalid_signature', `${crm} webhook signature timestamp is outside the ${Math.round(toleranceMs / 60_000)}-minute window`);
  }
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
  const matches = signatures.some((candidate) => {
    if (!/^[0-9a-fA-F]+$/.test(candidate) || candidate.length % 2 !== 0) return false;
    const given = Buffer.from(candidate, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new CrmWebhookError('invalid_signature', `${crm} webhook signature does not match`);
}
