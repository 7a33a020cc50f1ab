import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';
import type { BrevoWebhookEvent } from './types.js';

/**
 * Brevo does not sign its webhooks (no HMAC, no timestamp). Its "Secure webhook calls" page
 * offers IP allow-listing, HTTP Basic auth in the webhook URL (`https://user:pass@host/…`) or a
 * bearer token; crmsync's guard is the secret access key in the URL, which ingress checks.
 */
export function verifyWebhook(_request: WebhookRequest): void {}

/**
 * Marketing events that name a contact whose data or lists changed. Names as the API creates
 * them (`listAddition`, `contactUpdated`…) and as delivered (`list_addition`, `contact_updated`,
 * changelog 2019-06-11) are both accepted; matching ignores case, `_` and `-`.
 */
const CONTACT_EVENTS = new Set(['contactupdated', 'listaddition', 'unsubscribed', 'contactadded', 'contactcreated']);
const normalise = (event: string) => event.toLowerCase().replace(/[_\-\s]/g, '');

/**
 * The contacts a Brevo webhook is about. JSON, one event per request or, for `batched: true`
 * webhooks, an array of events (ingress passes arrays as `{events: [...]}`; the raw body is
 * re-read when needed). A contact is named by its numeric id where the payload has one
 * (`contact_id`, the automation webhook's `properties.contact_id`), else by its e-mail
 * (`content[0].updated_email` first for an e-mail change): Brevo's API addresses contacts by
 * either. Campaign events (opened, click, delivered, spam, bounces…) and `contact_deleted` are
 * ignored.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const events = readEvents(request);
  const refs: string[] = [];
  const skipped: string[] = [];
  const add = (value: unknown): boolean => {
    const ref = typeof value === 'number' && Number.isInteger(value) && value > 0 ? String(value) : typeof value === 'string' ? value.trim() : '';
    const ok = /^\d+$/.test(ref) || /^[^@\s]+@[^@\s]+$/.test(ref);
    if (ok && !refs.includes(ref.includes('@') ? ref.toLowerCase() : ref)) refs.push(ref.includes('@') ? ref.toLowerCase() : ref);
    return ok;
  };
  for (const event of events) {
    const name = typeof event.event === 'string' ? event.event : '';
    if (name && !CONTACT_EVENTS.has(normalise(name))) {
      skipped.push(name);
      continue;
    }
    // Without an `event` key it is an automation "Send a webhook" body (or a hand-made one).
    if (add(event.contact_id) || add(event.properties?.contact_id)) continue;
    const updated = Array.isArray(event.content) ? event.content.find((c) => c && typeof c === 'object' && c.updated_email)?.updated_email : undefined;
    if (add(updated)) continue;
    add(event.email) || add(event.properties?.email);
  }
  if (refs.length === 0 && skipped.length > 0) return { contactIds: [], ignored: `${[...new Set(skipped)].join(', ')} is not a contact change` };
  return { contactIds: refs };
}

function readEvents(request: WebhookRequest): BrevoWebhookEvent[] {
  let value: unknown = request.fields;
  const fields = request.fields as Record<string, unknown>;
  if (fields && Array.isArray(fields.events) && Object.keys(fields).length === 1) value = fields.events;
  if ((!value || (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0)) && request.body.length > 0) {
    try {
      value = JSON.parse(request.body.toString('utf8'));
    } catch {
      throw new CrmWebhookError('malformed_body', 'Brevo webhook body is not valid JSON');
    }
  }
  const list = Array.isArray(value) ? value : [value];
  return list.filter((e): e is BrevoWebhookEvent => !!e && typeof e === 'object');
}
