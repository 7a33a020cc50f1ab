import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';

/**
 * Drip does not sign its webhooks (no signature is documented for account webhooks or the
 * workflow "Post to URL" action). The guard is the secret access key in the URL, checked by ingress.
 */
export function verifyWebhook(_request: WebhookRequest): void {}

/** Account-webhook events that change what crmsync syncs (fields, e-mail, tags, a new person). */
export const CONTACT_EVENTS: ReadonlySet<string> = new Set([
  'subscriber.created',
  'subscriber.applied_tag',
  'subscriber.removed_tag',
  'subscriber.updated_custom_field',
  'subscriber.updated_email_address',
  'subscriber.updated_alias',
  'subscriber.updated_time_zone',
]);

/** Subscriber ids are opaque lower-case alphanumerics (`z1togz2hcjrkpp5treip`); never an e-mail or a path. */
const SUBSCRIBER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The subscriber a Drip webhook is about. Two JSON shapes arrive, one event per request:
 * - account webhooks: `{event, data: {account_id, subscriber: {id, email, tags, …}, properties}, occurred_at}`;
 * - an automation/rule "Send an HTTP Post" action: the subscriber at the top level,
 *   `{subscriber: {id, …}, custom: {…}}` as JSON, or `subscriber[id]=…` when set to form-encoded.
 * Account events that are not contact changes (e-mail opens, campaign steps, deletions…) are ignored.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const payload = readPayload(request);
  const items = Array.isArray(payload) ? payload : Array.isArray((payload as { events?: unknown })?.events) ? (payload as { events: unknown[] }).events : [payload];
  const ids: string[] = [];
  const ignored: string[] = [];
  for (const item of items) {
    if (!item || typeof item !== 'object') continue;
    const record = item as Record<string, unknown>;
    const event = typeof record.event === 'string' ? record.event : null;
    const data = record.data && typeof record.data === 'object' ? (record.data as Record<string, unknown>) : null;
    if (event !== null) {
      if (!CONTACT_EVENTS.has(event)) {
        ignored.push(event === 'subscriber.deleted' ? 'subscriber.deleted: the subscriber no longer exists in Drip' : `${event} is not a contact change`);
        continue;
      }
      const id = subscriberId(data?.subscriber);
      if (id) add(ids, id);
      else ignored.push(`${event} names no subscriber`);
      continue;
    }
    // HTTP Post action: JSON `{subscriber: {id}}`, or form-encoded `subscriber[id]=…`.
    const id = subscriberId(record.subscriber) ?? subscriberId(data?.subscriber) ?? subscriberId({ id: first(record['subscriber[id]']) });
    if (id) add(ids, id);
  }
  if (ids.length > 0) return { contactIds: ids };
  return { contactIds: [], ignored: ignored.length > 0 ? [...new Set(ignored)].join('; ') : 'the payload names no Drip subscriber' };
}

function subscriberId(subscriber: unknown): string | null {
  if (!subscriber || typeof subscriber !== 'object') return null;
  const id = (subscriber as Record<string, unknown>).id;
  const text = typeof id === 'number' && Number.isInteger(id) ? String(id) : typeof id === 'string' ? id.trim() : '';
  return SUBSCRIBER_ID.test(text) ? text : null;
}

function first(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

function add(ids: string[], id: string): void {
  if (!ids.includes(id)) ids.push(id);
}

/** The JSON body: ingress's parsed value, else the raw bytes ("All our webhook events contain data serialized as JSON"). */
function readPayload(request: WebhookRequest): unknown {
  const fields = request.fields;
  const empty = !fields || (typeof fields === 'object' && !Array.isArray(fields) && Object.keys(fields).length === 0);
  if (!empty) return fields;
  const text = request.body.toString('utf8').trim();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new CrmWebhookError('malformed_body', 'Drip webhook body is not valid JSON');
  }
}
