import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';
import type { HsWebhookEvent } from './types.js';

/** "Reject the request if the timestamp is older than 5 minutes" (v3 validation guide; SDK `MAX_ALLOWED_TIMESTAMP`). */
export const MAX_TIMESTAMP_AGE_MS = 5 * 60 * 1000;

/**
 * The characters HubSpot decodes in the request URI before signing v3 (validation guide,
 * "decode any URL-encoded characters listed in the following table").
 */
const V3_DECODED: Record<string, string> = {
  '%3A': ':', '%2F': '/', '%3F': '?', '%40': '@', '%21': '!', '%24': '$', '%27': "'", '%28': '(', '%29': ')', '%2A': '*', '%2C': ',', '%3B': ';',
};

export function decodeV3Uri(uri: string): string {
  return uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (m) => V3_DECODED[m.toUpperCase()]!);
}

function header(request: WebhookRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === wanted) return (Array.isArray(value) ? value[0] : value)?.trim();
  }
  return undefined;
}

function sameBytes(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp)), over the raw body bytes. */
export function signatureV3(secret: string, method: string, uri: string, body: Buffer, timestamp: string): string {
  return createHmac('sha256', secret).update(Buffer.from(method + uri, 'utf8')).update(body).update(Buffer.from(timestamp, 'utf8')).digest('base64');
}

/** v1: hex(SHA-256(secret + body)); v2: hex(SHA-256(secret + method + uri + body)). Not HMACs. */
export function signatureV1V2(secret: string, body: Buffer, v2?: { method: string; uri: string }): string {
  const hash = createHash('sha256').update(Buffer.from(secret, 'utf8'));
  if (v2) hash.update(Buffer.from(v2.method + v2.uri, 'utf8'));
  return hash.update(body).digest('hex');
}

/**
 * HubSpot signs every webhook with the app's client secret. `X-HubSpot-Signature-v3` (with
 * `X-HubSpot-Request-Timestamp`) decides when present; otherwise `X-HubSpot-Signature` with
 * `X-HubSpot-Signature-Version` v1 (Webhooks API) or v2 (workflow webhooks, CRM cards). The URI
 * is the one HubSpot called: `request.publicUrl`.
 */
export function verifyWebhook(request: WebhookRequest, secret: string | null, clock: Clock): void {
  if (!secret) {
    throw new CrmWebhookError('invalid_signature', 'HubSpot signs its webhooks: CRMSYNC_CRM_WEBHOOK_SECRET (the app\'s client secret) is required to accept them');
  }
  const method = request.method.toUpperCase();
  const v3 = header(request, 'x-hubspot-signature-v3');
  if (v3) {
    const timestamp = header(request, 'x-hubspot-request-timestamp');
    if (!timestamp) throw new CrmWebhookError('invalid_signature', 'HubSpot v3 signature without X-HubSpot-Request-Timestamp');
    const ts = Number(timestamp);
    if (!/^\d{1,16}$/.test(timestamp) || !Number.isSafeInteger(ts)) throw new CrmWebhookError('invalid_signature', 'HubSpot request timestamp is not a millisecond epoch');
    if (Math.abs(clock.now() - ts) > MAX_TIMESTAMP_AGE_MS) {
      throw new CrmWebhookError('invalid_signature', 'HubSpot request timestamp is more than 5 minutes away from now (stale or replayed)');
    }
    const given = Buffer.from(v3, 'utf8');
    const uris = new Set([request.publicUrl, decodeV3Uri(request.publicUrl)]);
    for (const uri of uris) {
      if (sameBytes(Buffer.from(signatureV3(secret, method, uri, request.body, timestamp), 'utf8'), given)) return;
    }
    throw new CrmWebhookError('invalid_signature', 'HubSpot v3 signature does not match');
  }
  const signature = header(request, 'x-hubspot-signature');
  if (!signature) throw new CrmWebhookError('invalid_signature', 'missing HubSpot signature (X-HubSpot-Signature-v3 or X-HubSpot-Signature)');
  const version = (header(request, 'x-hubspot-signature-version') ?? 'v1').toLowerCase();
  if (version !== 'v1' && version !== 'v2') throw new CrmWebhookError('invalid_signature', `unsupported HubSpot signature version ${version.slice(0, 8)}`);
  const expected = signatureV1V2(secret, request.body, version === 'v2' ? { method, uri: request.publicUrl } : undefined);
  if (!sameBytes(Buffer.from(expected, 'utf8'), Buffer.from(signature.toLowerCase(), 'utf8'))) {
    throw new CrmWebhookError('invalid_signature', `HubSpot ${version} signature does not match`);
  }
}

const CONTACT_ID = /^\d{1,20}$/;
/** Contact events after which the contact is reloaded. */
const RELOAD = new Set(['creation', 'propertychange', 'restore', 'merge']);

function id(value: unknown): string | null {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : typeof value === 'string' ? value.trim() : '';
  return CONTACT_ID.test(text) ? text : null;
}

/** `contact.creation` / `object.creation` (+ objectTypeId `0-1`) → `creation`; other objects → null. */
function contactAction(event: HsWebhookEvent): { type: string; action: string | null } {
  const type = String(event.subscriptionType ?? event.eventType ?? '');
  const [object, action = ''] = type.split('.', 2);
  const isContact = object === 'contact' || (object === 'object' && String(event.objectTypeId ?? '') === '0-1');
  return { type: type || 'an event without subscriptionType', action: isContact ? action.toLowerCase() : null };
}

function readBody(request: WebhookRequest): unknown {
  const text = request.body.toString('utf8').trim();
  if (text) {
    try {
      return JSON.parse(text);
    } catch {
      throw new CrmWebhookError('malformed_body', 'HubSpot webhook body is not valid JSON');
    }
  }
  const fields = request.fields as Record<string, unknown>;
  return Array.isArray(fields.events) ? fields.events : fields;
}

/**
 * The contacts a HubSpot webhook is about.
 * - Webhooks API (app or private-app subscriptions): a JSON **array** of < 100 events; each
 *   contact creation, property change, restore or merge names `objectId` (a merge: the surviving
 *   `primaryObjectId`). Deletions, privacy deletions, association changes and other objects'
 *   events are not contact changes to load.
 * - Workflow "Send a webhook" action: one JSON object, the contact as `vid` (legacy contact
 *   JSON), `objectId`, or `properties.hs_object_id`.
 */
export function parseWebhook(request: WebhookRequest): WebhookParse {
  const payload = readBody(request);
  const contactIds: string[] = [];
  const add = (value: unknown) => {
    const found = id(value);
    if (found && !contactIds.includes(found)) contactIds.push(found);
  };
  if (Array.isArray(payload)) {
    const skipped = new Set<string>();
    for (const item of payload) {
      if (!item || typeof item !== 'object') continue;
      const event = item as HsWebhookEvent;
      const { type, action } = contactAction(event);
      if (action !== null && RELOAD.has(action)) add(action === 'merge' ? (event.primaryObjectId ?? event.objectId) : event.objectId);
      else skipped.add(type);
    }
    if (contactIds.length === 0 && skipped.size > 0) return { contactIds, ignored: `${[...skipped].join(', ')} ${skipped.size > 1 ? 'are' : 'is'} not a contact change` };
    return { contactIds };
  }
  if (payload && typeof payload === 'object') {
    const record = payload as Record<string, unknown>;
    const { type, action } = contactAction(record as HsWebhookEvent);
    if (record.subscriptionType !== undefined || record.eventType !== undefined) {
      if (action === null || !RELOAD.has(action)) return { contactIds, ignored: `${type} is not a contact change` };
    }
    add(record.vid);
    add(record.objectId);
    const props = record.properties;
    if (props && typeof props === 'object') {
      const hsId = (props as Record<string, unknown>).hs_object_id;
      add(hsId && typeof hsId === 'object' ? (hsId as { value?: unknown }).value : hsId);
    }
  }
  return { contactIds };
}
