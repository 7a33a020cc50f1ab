import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';

/**
 * Keap signs nothing: REST hooks have only the one-time `X-Hook-Secret` handshake, and the
 * campaign-builder "HTTP Post" has no signature. The guard is the secret access key in the URL,
 * checked by ingress.
 */
export function verifyWebhook(_request: WebhookRequest): void {}

/** REST hook event keys that change a contact crmsync syncs. */
export const CONTACT_EVENTS: ReadonlySet<string> = new Set(['contact.add', 'contact.edit', 'contactGroup.applied', 'contactGroup.removed']);

/** Keap ids are positive integers. */
const CONTACT_ID = /^[1-9]\d{0,18}$/;
/** A hook secret echoed in a response header: header-safe characters only. */
const HOOK_SECRET = /^[\x21-\x7e]{1,512}$/;

/**
 * What a Keap call to our URL is:
 * - **REST hook verification**: a POST carrying `X-Hook-Secret` → answered 200 echoing that header
 *   (Keap sends no events until the subscription is verified); nothing is stored.
 * - **REST hook delivery**: JSON `{event_key, object_type, object_keys: [{id, apiUrl, timestamp}, …]}`,
 *   up to 1000 objects of one event type → their ids. `contact.delete` and non-contact events are ignored.
 * - **Campaign-builder "HTTP Post"** (what WP Fusion uses): form-encoded `contactId=123` → that id.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const secret = header(request, 'x-hook-secret');
  if (secret !== undefined) {
    if (!HOOK_SECRET.test(secret)) throw new CrmWebhookError('malformed_body', 'Keap X-Hook-Secret header is empty or not header-safe');
    return { contactIds: [], handshake: { status: 200, headers: { 'X-Hook-Secret': secret } } };
  }
  const payload = readPayload(request);
  if (!payload || typeof payload !== 'object') return { contactIds: [], ignored: 'the payload names no Keap contact' };
  const record = payload as Record<string, unknown>;
  const ids: string[] = [];
  if (typeof record.event_key === 'string') {
    const event = record.event_key;
    if (!CONTACT_EVENTS.has(event)) {
      return { contactIds: [], ignored: event === 'contact.delete' ? 'contact.delete: the contact no longer exists in Keap' : `${event} is not a contact change` };
    }
    const objects = Array.isArray(record.object_keys) ? record.object_keys : [];
    for (const object of objects) {
      if (!object || typeof object !== 'object') continue;
      const o = object as Record<string, unknown>;
      if (event.startsWith('contact.')) add(ids, o.id);
      else {
        // contactGroup.applied/removed: the tag–contact pairing. Keap's docs show only the generic
        // `{id, apiUrl, timestamp}`; the contact ids are taken wherever a known shape names them:
        // `applied` / `removed` id lists next to `tagId` (seen in a public hook receiver),
        // `contact_id`, or `contact_details[].id`. Otherwise the event is ignored (not guessed).
        add(ids, o.contact_id ?? o.contactId);
        for (const list of [o.applied, o.removed, o.contact_ids]) for (const id of Array.isArray(list) ? list : []) add(ids, id);
        for (const detail of Array.isArray(o.contact_details) ? o.contact_details : []) add(ids, (detail as Record<string, unknown> | null)?.id);
      }
    }
    return ids.length > 0 ? { contactIds: ids } : { contactIds: [], ignored: `${event} names no contact` };
  }
  add(ids, first(record.contactId) ?? first(record.contact_id) ?? first(record.Id));
  return ids.length > 0 ? { contactIds: ids } : { contactIds: [], ignored: 'the payload names no Keap contact' };
}

function first(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

function add(ids: string[], value: unknown): void {
  const id = typeof value === 'number' && Number.isInteger(value) ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (CONTACT_ID.test(id) && !ids.includes(id)) ids.push(id);
}

function header(request: WebhookRequest, name: string): string | undefined {
  const value = request.headers[name] ?? Object.entries(request.headers).find(([k]) => k.toLowerCase() === name)?.[1];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined ? undefined : text.trim();
}

function readPayload(request: WebhookRequest): unknown {
  const fields = request.fields;
  const empty = !fields || (typeof fields === 'object' && !Array.isArray(fields) && Object.keys(fields).length === 0);
  if (!empty) return fields;
  const text = request.body.toString('utf8').trim();
  if (!text) return {};
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      throw new CrmWebhookError('malformed_body', 'Keap webhook body is not valid JSON');
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}
