import type { ChangeSource, SandboxContact } from './contact.js';

/**
 * What the sandbox POSTs when a contact changes: ActiveCampaign's webhook shape
 * (form-encoded, `contact[...]` keys, tag names joined by ", "), sent to crmsync's webhook
 * URL with `contact_id` appended the way a CRM automation would.
 */
export function notificationUrl(webhookUrl: string, contactId: string): string {
  const [base = '', fragment] = splitOnce(webhookUrl, '#');
  const joiner = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  const url = `${base}${joiner}contact_id=${encodeURIComponent(contactId)}`;
  return fragment === undefined ? url : `${url}#${fragment}`;
}

export function notificationBody(contact: SandboxContact, source: ChangeSource, at: Date): URLSearchParams {
  const body = new URLSearchParams();
  body.set('type', 'update');
  body.set('date_time', at.toISOString());
  body.set('initiated_by', source === 'api' ? 'api' : 'admin');
  body.set('contact[id]', contact.id);
  body.set('contact[email]', contact.email);
  body.set('contact[first_name]', contact.fields.first_name ?? '');
  body.set('contact[last_name]', contact.fields.last_name ?? '');
  body.set('contact[phone]', contact.fields.phone ?? '');
  body.set('contact[tags]', contact.tags.join(', '));
  return body;
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
