import { createHmac, timingSafeEqual } from 'node:crypto';
import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';
import { contactRef } from './mappers.js';
import type { MlWebhookEvent } from './types.js';

/**
 * New MailerLite signs every webhook request: header `Signature` = hex
 * HMAC-SHA256(webhook secret, raw JSON body) — the docs' PHP is
 * `hash_hmac('sha256', $jsonPayload, $secret)`. There is no timestamp in the scheme, so there is
 * no replay window to check. The secret is the one MailerLite returns for the webhook; it is
 * required. Each webhook has its own secret, so several may be configured, comma-separated (an
 * `update` and an `add` webhook): any of them verifies. MailerLite's secrets are alphanumeric.
 */
export function verifyWebhook(request: WebhookRequest, secret: string | null): void {
  if (!secret) {
    throw new CrmWebhookError('invalid_signature', 'MailerLite signs its webhooks: CRMSYNC_CRM_WEBHOOK_SECRET is required (the secret of the MailerLite webhook)');
  }
  const header = headerValue(request.headers.signature);
  if (!header) {
    const classic = headerValue(request.headers['x-mailerlite-signature']);
    throw new CrmWebhookError(
      'invalid_signature',
      classic
        ? 'this is a MailerLite Classic webhook (X-MailerLite-Signature); crmsync speaks the new MailerLite API: create the webhook in the new MailerLite'
        : 'MailerLite webhook has no Signature header',
    );
  }
  const given = /^[0-9a-fA-F]{64}$/.test(header) ? Buffer.from(header, 'hex') : null;
  const secrets = secret.split(',').map((s) => s.trim()).filter(Boolean);
  // Every secret is tried (no early exit), so the time taken does not tell which one matched.
  let ok = false;
  for (const candidate of secrets) {
    const expected = createHmac('sha256', candidate).update(request.body).digest();
    if (given && timingSafeEqual(given, expected)) ok = true;
  }
  if (!ok) throw new CrmWebhookError('invalid_signature', 'MailerLite webhook signature does not match');
}

/**
 * Subscriber events whose subscriber crmsync reloads: data, groups ("tags") or status changed.
 * Everything else — `subscriber.bounced`, `.spam_reported`, `.deleted`, `.automation_*`,
 * `campaign.*` — is ignored: nothing of the user's data changed, or there is nobody to load.
 */
const CONTACT_EVENTS = new Set([
  'subscriber.created',
  'subscriber.updated',
  'subscriber.active',
  'subscriber.unsubscribed',
  'subscriber.added_to_group',
  'subscriber.removed_from_group',
  'subscriber.added_through_form',
]);

/**
 * The subscribers a MailerLite webhook is about. One event per request (the default), or a
 * batch envelope `{events: [...], total}` for webhooks created with `batchable: true`. The
 * subscriber is `subscriber.id` in group/automation events, else the flat event's own `id`
 * (next to its `email`); the e-mail is the fallback reference — the API reads a subscriber by
 * either. A body without an event name but with a subscriber (`id` + `email`) is read too
 * (as integrations' test events are).
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const events = readEvents(request);
  const refs: string[] = [];
  const skipped: string[] = [];
  for (const event of events) {
    const name = typeof event.event === 'string' ? event.event : typeof event.type === 'string' ? event.type : '';
    if (name && !CONTACT_EVENTS.has(name.toLowerCase())) {
      skipped.push(name);
      continue;
    }
    const ref = subscriberRef(event);
    if (ref && !refs.includes(ref)) refs.push(ref);
  }
  if (refs.length === 0 && skipped.length > 0) return { contactIds: [], ignored: `${[...new Set(skipped)].join(', ')} is not a contact change` };
  return { contactIds: refs };
}

function subscriberRef(event: MlWebhookEvent): string | null {
  const nested = event.subscriber && typeof event.subscriber === 'object' ? event.subscriber : null;
  if (nested) return contactRef(nested.id) ?? contactRef(nested.email);
  // A flat event is the subscriber resource: its `id` is the subscriber's only beside its e-mail.
  if (event.email === undefined) return null;
  return contactRef(event.id) ?? contactRef(event.email);
}

function readEvents(request: WebhookRequest): MlWebhookEvent[] {
  let value: unknown = request.fields;
  if (!value || typeof value !== 'object' || Object.keys(value).length === 0) {
    const raw = request.body.toString('utf8').trim();
    if (!raw) throw new CrmWebhookError('malformed_body', 'MailerLite webhook has an empty body');
    try {
      value = JSON.parse(raw);
    } catch {
      throw new CrmWebhookError('malformed_body', 'MailerLite webhook body is not valid JSON');
    }
  }
  if (!value || typeof value !== 'object') throw new CrmWebhookError('malformed_body', 'MailerLite webhook body is not a JSON object');
  const events = Array.isArray(value) ? value : Array.isArray((value as { events?: unknown }).events) ? (value as { events: unknown[] }).events : [value];
  return events.filter((e): e is MlWebhookEvent => !!e && typeof e === 'object' && !Array.isArray(e));
}

function headerValue(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value)?.trim() ?? '';
}
