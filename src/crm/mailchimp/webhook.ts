import type { Clock } from '../../clock.js';
import { CrmWebhookError } from '../errors.js';
import { verifyTimestampedHmac } from '../signature.js';
import type { WebhookParse, WebhookRequest } from '../types.js';
import { subscriberHash } from './mappers.js';

/** "Reject any delivery … where the timestamp is more than 5 minutes old." */
export const SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

/**
 * Mailchimp signs audience webhooks **optionally** (the HMAC signing secret is shown once when the
 * webhook is created; webhooks created before signing existed are unsigned). So:
 * - no `webhookSecret` configured: nothing to check, the secret access key in the URL is the guard;
 * - a `webhookSecret` configured: every POST must carry a valid
 *   `X-Mailchimp-Signature: t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}.{raw body}")}`
 *   within 5 minutes. The validator's GET (no body) is never signed and passes.
 */
export function verifyWebhook(request: WebhookRequest, secret: string | null, clock: Clock): void {
  if (secret === null) return;
  if (isValidationGet(request)) return;
  const header = headerValue(request.headers['x-mailchimp-signature']);
  if (!header) throw new CrmWebhookError('invalid_signature', 'Mailchimp webhook has no X-Mailchimp-Signature header (CRMSYNC_CRM_WEBHOOK_SECRET is set, so every delivery must be signed)');
  verifyTimestampedHmac({ crm: 'Mailchimp', header: 'X-Mailchimp-Signature', value: header, secret, body: request.body, now: clock.now(), toleranceMs: SIGNATURE_TOLERANCE_MS });
}

/** The webhook validator's check: a GET with no payload. */
function isValidationGet(request: WebhookRequest): boolean {
  return request.method.toUpperCase() === 'GET' && request.body.length === 0;
}

/** Events that change a member: crmsync reloads it. `campaign` (a campaign was sent) is not about one member. */
const CONTACT_EVENTS = new Set(['subscribe', 'unsubscribe', 'profile', 'upemail', 'cleaned']);

/**
 * Mailchimp posts one event per request as `application/x-www-form-urlencoded` with PHP bracket
 * keys (`type=subscribe&data[email]=…&data[merges][FNAME]=…`). The contact id is the subscriber
 * hash of `data[email]` (`data[new_email]` for `upemail`): `data[id]` is the member's
 * `unique_email_id`, which the API does not address members by. A GET without a body is the
 * webhook validator: answered 200, nothing stored. An event about another audience than the
 * configured one is ignored.
 */
export function parseWebhook(request: WebhookRequest, listId: string | null): WebhookParse {
  if (isValidationGet(request)) return { contactIds: [], handshake: { status: 200 } };
  const fields = readFields(request);
  const type = text(fields['type']);
  if (type === 'campaign') return { contactIds: [], ignored: 'campaign is not a contact change' };
  if (type && !CONTACT_EVENTS.has(type)) return { contactIds: [], ignored: `${type} is not a contact change` };
  const eventList = text(fields['data[list_id]']);
  if (listId && eventList && eventList !== listId) {
    return { contactIds: [], ignored: `${type || 'event'} is about audience ${eventList}, not the configured audience ${listId}` };
  }
  const emails = type === 'upemail' ? [fields['data[new_email]']] : [fields['data[email]'], fields['data[merges][EMAIL]']];
  const ids: string[] = [];
  for (const value of emails) {
    for (const email of Array.isArray(value) ? value : [value]) {
      const address = text(email);
      if (!address || !address.includes('@')) continue;
      const id = subscriberHash(address);
      if (!ids.includes(id)) ids.push(id);
      break;
    }
    if (ids.length > 0) break;
  }
  return { contactIds: ids };
}

/** The flat form map (ingress's, or the raw body parsed here); a JSON body (a relay) flattened to bracket keys. */
function readFields(request: WebhookRequest): Record<string, unknown> {
  const fields = request.fields;
  if (fields && typeof fields === 'object' && !Array.isArray(fields) && Object.keys(fields).length > 0) {
    return 'data' in fields && typeof fields.data === 'object' ? flatten(fields) : fields;
  }
  const raw = request.body.toString('utf8').trim();
  if (!raw) throw new CrmWebhookError('malformed_body', 'Mailchimp webhook POST has an empty body');
  if (raw.startsWith('{')) {
    try {
      return flatten(JSON.parse(raw) as Record<string, unknown>);
    } catch {
      throw new CrmWebhookError('malformed_body', 'Mailchimp webhook body is not valid JSON');
    }
  }
  const flat: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const prev = flat[key];
    flat[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return flat;
}

/** `{data: {merges: {FNAME: 'x'}}}` → `{"data[merges][FNAME]": 'x'}`. */
function flatten(value: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [key, v] of Object.entries(value)) {
    const name = prefix ? `${prefix}[${key}]` : key;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, name, out);
    else out[name] = v;
  }
  return out;
}

function text(value: unknown): string {
  if (Array.isArray(value)) return text(value[0]);
  return typeof value === 'string' ? value.trim() : '';
}

function headerValue(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value)?.trim() ?? '';
}
