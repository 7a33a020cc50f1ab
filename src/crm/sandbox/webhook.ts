import { CrmWebhookError } from '../errors.js';
import type { WebhookParse, WebhookRequest } from '../types.js';

/**
 * The sandbox does not sign its webhooks (like ActiveCampaign), so there is nothing to verify:
 * ingress still checks its own access key. Contact ids come from the form field
 * `contact[id]` (possibly repeated) or JSON `contact.id` (an object or an array of them).
 */
export function verifyWebhook(_request: WebhookRequest): void {}

export function parseWebhook(request: WebhookRequest): WebhookParse {
  const ids: unknown[] = [];
  const fields = request.fields;
  const formId = fields['contact[id]'];
  if (formId !== undefined) ids.push(...(Array.isArray(formId) ? formId : [formId]));
  const items: unknown[] = Array.isArray(fields) ? fields : [fields];
  for (const item of items) {
    const contact = (item as { contact?: unknown } | null)?.contact;
    if (contact && typeof contact === 'object' && 'id' in contact) ids.push(contact.id);
  }
  const contactIds: string[] = [];
  for (const id of ids) {
    const text = typeof id === 'number' && Number.isSafeInteger(id) ? String(id) : typeof id === 'string' ? id.trim() : null;
    if (text === null || !/^\d{1,20}$/.test(text)) throw new CrmWebhookError('malformed_body', 'contact id is not a number');
    if (!contactIds.includes(text)) contactIds.push(text);
  }
  return { contactIds };
}
