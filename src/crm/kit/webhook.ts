import type { Clock } from '../../clock.js';
import { CrmWebhookError } from '../errors.js';
import { verifyTimestampedHmac } from '../signature.js';
import type { WebhookParse, WebhookRequest } from '../types.js';

/** "Reject stale timestamps to guard against replays — 5 minutes is" the documented tolerance. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

/**
 * Kit signs every delivery of a webhook **endpoint** (`/v4/webhook_endpoints`):
 * `X-Kit-Signature: t={unix seconds},v1={hex}[,v1={hex}…]`, each `v1` =
 * hex HMAC-SHA256(endpoint secret, `"{t}.{raw body}"`); during a secret rotation there is one `v1`
 * per valid secret, so any match passes. The timestamp must be within 5 minutes of now.
 * Legacy rule webhooks (`/v4/webhooks`) are not signed and are therefore refused: see README.
 */
export function verifyWebhook(request: WebhookRequest, secret: string | null, clock: Clock): void {
  if (!secret) {
    throw new CrmWebhookError('invalid_signature', 'Kit signs its webhooks: CRMSYNC_CRM_WEBHOOK_SECRET is required (the endpoint secret Kit returned when the webhook endpoint was created)');
  }
  const header = headerValue(request.headers['x-kit-signature']);
  if (!header) throw new CrmWebhookError('invalid_signature', 'Kit webhook has no X-Kit-Signature header (legacy rule webhooks are unsigned: use a webhook endpoint)');
  verifyTimestampedHmac({ crm: 'Kit', header: 'X-Kit-Signature', value: header, secret, body: request.body, now: clock.now(), toleranceMs: SIGNATURE_TOLERANCE_MS });
}

/**
 * The subscribers a delivery is about. Two shapes, both JSON:
 * - webhook endpoints: `{delivery_id, events: [{id, type, data: {subscriber: {id, …}, …}}]}`, 1 to
 *   100 events of one type; every event carrying `data.subscriber.id` names a contact;
 * - legacy rule webhooks: `{subscriber: {id, …}}` (the tag/form that fired is not in the body).
 * Events without a subscriber (custom field, purchase, form… resource events) are ignored.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const payload = readJson(request);
  const ids: string[] = [];
  const add = (subscriber: unknown): boolean => {
    if (!subscriber || typeof subscriber !== 'object') return false;
    const raw = (subscriber as Record<string, unknown>).id;
    const id = typeof raw === 'number' && Number.isInteger(raw) && raw > 0 ? String(raw) : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? raw.trim() : null;
    if (id === null) return false;
    if (!ids.includes(id)) ids.push(id);
    return true;
  };
  if (Array.isArray(payload.events)) {
    const skipped = new Set<string>();
    for (const event of payload.events as unknown[]) {
      if (!event || typeof event !== 'object') continue;
      const e = event as { type?: unknown; data?: { subscriber?: unknown } };
      if (!add(e.data?.subscriber)) skipped.add(typeof e.type === 'string' ? e.type : 'event');
    }
    if (ids.length === 0 && skipped.size > 0) return { contactIds: [], ignored: `${[...skipped].join(', ')} is not a contact change` };
    return { contactIds: ids };
  }
  if (add(payload.subscriber)) return { contactIds: ids };
  if ('transaction_id' in payload || 'products' in payload) return { contactIds: [], ignored: 'purchase is not a contact change' };
  return { contactIds: [] };
}

function readJson(request: WebhookRequest): Record<string, unknown> {
  const fields = request.fields;
  if (fields && typeof fields === 'object' && !Array.isArray(fields) && Object.keys(fields).length > 0) return fields;
  const raw = request.body.toString('utf8').trim();
  if (!raw) throw new CrmWebhookError('malformed_body', 'Kit webhook has an empty body');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new CrmWebhookError('malformed_body', 'Kit webhook body is not valid JSON');
  }
  if (Array.isArray(parsed)) return { events: parsed };
  if (!parsed || typeof parsed !== 'object') throw new CrmWebhookError('malformed_body', 'Kit webhook body is not a JSON object');
  return parsed as Record<string, unknown>;
}

function headerValue(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(',') : value)?.trim() ?? '';
}
