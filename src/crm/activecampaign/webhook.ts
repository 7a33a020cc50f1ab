import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';

/**
 * ActiveCampaign does not sign its webhooks (neither account webhooks nor the automation
 * "Webhook" action). The guard is the secret access key in the URL, which ingress checks.
 */
export function verifyWebhook(_request: WebhookRequest): void {}

const CONTACT_ID = /^\d+$/;

/**
 * The contact a webhook is about. AC posts `application/x-www-form-urlencoded` with PHP bracket
 * keys: `contact[id]=27760` (automation action and account webhooks alike). A JSON body (a relay
 * that re-encodes it) may carry `contact.id` or the flat `"contact[id]"` key. One event per request,
 * but a repeated key or a list is accepted and deduplicated.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  let fields: unknown = request.fields;
  if (isEmpty(fields) && request.body.length > 0) fields = parseRawBody(request);
  const ids: string[] = [];
  const add = (value: unknown): void => {
    for (const v of Array.isArray(value) ? value : [value]) {
      const id = typeof v === 'number' && Number.isInteger(v) ? String(v) : typeof v === 'string' ? v.trim() : '';
      if (CONTACT_ID.test(id) && !ids.includes(id)) ids.push(id);
    }
  };
  for (const item of Array.isArray(fields) ? fields : [fields]) {
    if (!item || typeof item !== 'object') continue;
    const record = item as Record<string, unknown>;
    add(record['contact[id]']);
    const contact = record.contact;
    if (contact && typeof contact === 'object') {
      for (const c of Array.isArray(contact) ? contact : [contact]) {
        if (c && typeof c === 'object') add((c as Record<string, unknown>).id);
      }
    }
  }
  return { contactIds: ids };
}

function isEmpty(fields: unknown): boolean {
  return !fields || (typeof fields === 'object' && !Array.isArray(fields) && Object.keys(fields).length === 0);
}

/** When ingress did not parse the body (unexpected content type), read it here. */
function parseRawBody(request: WebhookRequest): unknown {
  const text = request.body.toString('utf8').trim();
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      throw new CrmWebhookError('malformed_body', 'ActiveCampaign webhook body is not valid JSON');
    }
  }
  const flat: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = flat[key];
    flat[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return flat;
}
