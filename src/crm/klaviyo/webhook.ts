import { createHmac, timingSafeEqual } from 'node:crypto';
import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';
import { isProfileId } from './mappers.js';
import type { KlaviyoSystemWebhook } from './types.js';

/** Klaviyo prescribes no window; 5 minutes either way, as for the other signing CRMs. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

function header(request: WebhookRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** `hex(HMAC-SHA256(secret, raw body ‖ Klaviyo-Timestamp))` — the timestamp appended verbatim after the body. */
export function klaviyoSignature(secret: string, body: Buffer, timestamp: string): string {
  return createHmac('sha256', secret).update(body).update(timestamp, 'utf8').digest('hex');
}

/** Klaviyo-Timestamp as documented (an HTTP date, e.g. `Thu, 04 Jan 2024 18:05:25 GMT`); unix seconds or ms accepted too. */
export function parseTimestamp(value: string): number | null {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    return n > 1e12 ? n : n * 1000;
  }
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

/** A system webhook: the documented envelope `{data: [{topic, payload…}], meta}`. */
export function isSystemWebhook(body: unknown): body is KlaviyoSystemWebhook {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return false;
  const data = (body as { data?: unknown }).data;
  return Array.isArray(data) && data.some((e) => !!e && typeof e === 'object' && 'topic' in e);
}

/**
 * System webhooks are signed; flow "Webhook" actions are not (their body is whatever the flow
 * author typed, guarded by the access key in the URL). A request is held to the signature when
 * it carries `Klaviyo-Signature` or has the system-webhook envelope, so stripping the header
 * from a system webhook does not get it through.
 */
export function verifyWebhook(request: WebhookRequest, secret: string | null, now: number): void {
  const signature = header(request, 'klaviyo-signature');
  if (signature === undefined && !isSystemWebhook(readBody(request, false))) return; // a flow webhook
  if (!secret) throw new CrmWebhookError('invalid_signature', 'Klaviyo system webhooks are signed: CRMSYNC_CRM_WEBHOOK_SECRET is required (the secret_key the webhook was created with)');
  if (!signature) throw new CrmWebhookError('invalid_signature', 'Klaviyo-Signature header missing');
  const timestamp = header(request, 'klaviyo-timestamp');
  if (!timestamp) throw new CrmWebhookError('invalid_signature', 'Klaviyo-Timestamp header missing');
  const sentAt = parseTimestamp(timestamp);
  if (sentAt === null) throw new CrmWebhookError('invalid_signature', 'Klaviyo-Timestamp is not a date');
  if (Math.abs(now - sentAt) > SIGNATURE_TOLERANCE_MS) throw new CrmWebhookError('invalid_signature', 'Klaviyo-Timestamp is outside the 5-minute window');
  const expected = Buffer.from(klaviyoSignature(secret, request.body, timestamp), 'utf8');
  const given = Buffer.from(signature.trim().toLowerCase(), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new CrmWebhookError('invalid_signature', 'Klaviyo-Signature does not match');
  // The docs: meta.klaviyo_webhook_id must equal the Klaviyo-Webhook-Id header.
  const webhookId = header(request, 'klaviyo-webhook-id');
  const body = readBody(request, false);
  const metaId = isSystemWebhook(body) ? body.meta?.klaviyo_webhook_id : undefined;
  if (webhookId !== undefined && metaId !== undefined && webhookId !== metaId) {
    throw new CrmWebhookError('invalid_signature', 'Klaviyo-Webhook-Id does not match meta.klaviyo_webhook_id');
  }
}

/** Topics that mean the profile's consent or list membership changed (the others are engagement events). */
const PROFILE_TOPIC = /^event:klaviyo\.(subscribed|unsubscribed)_/;

/**
 * System webhook: every event's profile (`payload.data.relationships.profile.data.id`) for
 * consent topics (`event:klaviyo.subscribed_to_…`, `…unsubscribed_from_…`); other topics
 * (received/opened/clicked email, SMS, push, reviews…) are ignored. Flow webhook: the custom
 * body's `profile_id`, `id`, `profile.id` or `data.id`, else its `email`.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const body = readBody(request, true);
  const refs: string[] = [];
  const add = (value: unknown, email = false): boolean => {
    if (typeof value !== 'string') return false;
    const ref = email ? value.trim().toLowerCase() : value.trim();
    const ok = email ? /^[^@\s"]+@[^@\s"]+$/.test(ref) : isProfileId(ref);
    if (ok && !refs.includes(ref)) refs.push(ref);
    return ok;
  };
  if (isSystemWebhook(body)) {
    const skipped: string[] = [];
    for (const event of body.data) {
      const topic = typeof event?.topic === 'string' ? event.topic : '';
      if (!PROFILE_TOPIC.test(topic)) {
        skipped.push(topic || '(no topic)');
        continue;
      }
      add(event.payload?.data?.relationships?.profile?.data?.id);
    }
    if (refs.length === 0 && skipped.length > 0) return { contactIds: [], ignored: `${[...new Set(skipped)].join(', ')} is not a profile change` };
    return { contactIds: refs };
  }
  for (const item of Array.isArray(body) ? body : [body]) {
    if (!item || typeof item !== 'object') continue;
    const r = item as Record<string, unknown>;
    const nested = (key: string) => (r[key] && typeof r[key] === 'object' ? (r[key] as Record<string, unknown>).id : undefined);
    if (add(r.profile_id) || add(r.id) || add(nested('profile')) || add(nested('data')) || add(r.person_id)) continue;
    add(r.email, true);
  }
  return { contactIds: refs };
}

function readBody(request: WebhookRequest, strict: boolean): unknown {
  const fields = request.fields as Record<string, unknown>;
  if (fields && Array.isArray(fields.events) && Object.keys(fields).length === 1) return fields.events;
  if (fields && Object.keys(fields).length > 0) return fields;
  if (request.body.length === 0) return {};
  try {
    return JSON.parse(request.body.toString('utf8'));
  } catch {
    if (strict) throw new CrmWebhookError('malformed_body', 'Klaviyo webhook body is not valid JSON');
    return {};
  }
}
