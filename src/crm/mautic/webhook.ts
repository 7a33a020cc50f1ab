import { createHmac, timingSafeEqual } from 'node:crypto';
import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';
import { contactEmail, isContactId } from './mappers.js';
import type { MauticContact, MauticWebhookEvent } from './types.js';

/** Base64 of a 32-byte HMAC-SHA256 digest: 43 characters and one `=`. */
const SIGNATURE = /^[A-Za-z0-9+/]{43}=$/;

/** base64(HMAC-SHA256(webhook secret, raw body)), as Mautic's `WebhookBundle/Http/Client::post()` computes it. */
export function signBody(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

function header(request: WebhookRequest, name: string): string | undefined {
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === name) return (Array.isArray(value) ? value[0] : value)?.trim();
  }
  return undefined;
}

/**
 * Mautic signs every delivery: `Webhook-Signature` = base64(HMAC-SHA256(secret, raw JSON body)).
 * Every Mautic webhook has a secret (generated when none is typed in), so an unsigned request
 * is refused. The scheme has **no timestamp**: a captured request could be replayed, which only
 * causes one more reload of that contact (the access key in the URL stays secret over HTTPS).
 */
export function verifyWebhook(request: WebhookRequest, secret: string | null): void {
  if (!secret) {
    throw new CrmWebhookError('invalid_signature', 'Mautic signs its webhooks: CRMSYNC_CRM_WEBHOOK_SECRET (the webhook\'s "Secret" in Mautic) is required to accept them');
  }
  const given = header(request, 'webhook-signature');
  if (!given) throw new CrmWebhookError('invalid_signature', 'Mautic webhook has no Webhook-Signature header');
  if (!SIGNATURE.test(given)) throw new CrmWebhookError('invalid_signature', 'Mautic Webhook-Signature is not a base64 HMAC-SHA256');
  const expected = createHmac('sha256', secret).update(request.body).digest();
  const received = Buffer.from(given, 'base64');
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    throw new CrmWebhookError('invalid_signature', 'Mautic webhook signature does not match (wrong secret, or the body was changed on the way)');
  }
}

/**
 * Events after which a contact is reloaded: created/identified, updated (field edits, tags —
 * Mautic has no tag event, a tag change is an update), and a company change (the `company`
 * field follows the primary company). The others are not changes crmsync syncs: points,
 * segment membership, channel subscription, deletion, form/page/e-mail activity.
 */
export const CONTACT_EVENTS: ReadonlySet<string> = new Set(['mautic.lead_post_save_new', 'mautic.lead_post_save_update', 'mautic.lead_company_change']);

/**
 * The contacts a Mautic webhook is about. The body is a JSON object keyed by event type, each an
 * array of events (`{"mautic.lead_post_save_update": [{"contact": {…}, "timestamp": …}, …]}`); in
 * queue mode one request carries several events, of several types. A contact event names its
 * contact as `contact.id` (or `lead.id`, older Mautic). An anonymous visitor (no e-mail, never
 * identified) is skipped: there is no user to sync.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const body = readBody(request);
  const contactIds: string[] = [];
  const skipped = new Set<string>();
  let anonymous = 0;
  for (const [type, events] of Object.entries(body)) {
    if (!Array.isArray(events)) continue;
    if (!CONTACT_EVENTS.has(type)) {
      skipped.add(type);
      continue;
    }
    for (const event of events as unknown[]) {
      const contact = contactOf(event);
      if (!contact) continue;
      const id = typeof contact.id === 'number' ? String(contact.id) : typeof contact.id === 'string' ? contact.id.trim() : '';
      if (!isContactId(id)) continue;
      if (isAnonymous(contact)) {
        anonymous++;
        continue;
      }
      if (!contactIds.includes(id)) contactIds.push(id);
    }
  }
  if (contactIds.length > 0) return { contactIds };
  const reasons: string[] = [];
  if (skipped.size > 0) reasons.push(`${[...skipped].join(', ')} ${skipped.size > 1 ? 'are' : 'is'} not a contact change`);
  if (anonymous > 0) reasons.push(`${anonymous} anonymous contact${anonymous > 1 ? 's' : ''} (no e-mail)`);
  return reasons.length > 0 ? { contactIds, ignored: reasons.join('; ') } : { contactIds };
}

function contactOf(event: unknown): MauticContact | null {
  if (!event || typeof event !== 'object') return null;
  const e = event as MauticWebhookEvent;
  const contact = e.contact ?? e.lead;
  return contact && typeof contact === 'object' ? contact : null;
}

/** Only when the payload says so: it carries the fields, no e-mail, and no identification date. */
function isAnonymous(contact: MauticContact): boolean {
  return contact.fields !== undefined && contactEmail(contact) === null && !contact.dateIdentified;
}

function readBody(request: WebhookRequest): Record<string, unknown> {
  const fields = request.fields;
  let value: unknown = fields;
  if (!fields || typeof fields !== 'object' || Object.keys(fields).length === 0) {
    const raw = request.body.toString('utf8').trim();
    if (!raw) throw new CrmWebhookError('malformed_body', 'Mautic webhook has an empty body');
    try {
      value = JSON.parse(raw);
    } catch {
      throw new CrmWebhookError('malformed_body', 'Mautic webhook body is not valid JSON');
    }
  }
  // A bare array (what the UI's sample assets hold) is events of an unnamed type: not Mautic's wire shape.
  if (Array.isArray(value)) throw new CrmWebhookError('malformed_body', 'Mautic webhook body must be an object keyed by event type');
  if (!value || typeof value !== 'object') throw new CrmWebhookError('malformed_body', 'Mautic webhook body is not a JSON object');
  const record = value as Record<string, unknown>;
  // Ingress hands a top-level JSON array over as {events: [...]}.
  if (Object.keys(record).length === 1 && Array.isArray(record.events) && request.body.toString('utf8').trimStart().startsWith('[')) {
    throw new CrmWebhookError('malformed_body', 'Mautic webhook body must be an object keyed by event type');
  }
  return record;
}
