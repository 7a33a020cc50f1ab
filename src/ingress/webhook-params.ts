import { isWebhookAction, type WebhookAction } from '../domain/action.js';
import { AppError } from '../errors.js';

/** The only parameters read from a webhook URL (or its form body): everything else is ignored. */
export const WEBHOOK_PARAMS = ['wpf_action', 'access_key', 'contact_id', 'role', 'send_notification'] as const;

export interface WebhookParams {
  action: WebhookAction | 'test';
  accessKey: string | null;
  contactId: string | null;
  role: string | null;
  sendNotification: boolean;
}

const CONTACT_ID = /^[A-Za-z0-9][A-Za-z0-9_.@+:-]{0,127}$/;
const ROLE = /^[a-z0-9_-]{1,64}$/i;

/** One value per parameter: the URL's wins over the body's (WP Fusion reads $_REQUEST). */
export function pickParam(query: URLSearchParams, body: Record<string, unknown>, name: string): string | null {
  const fromQuery = query.get(name);
  if (fromQuery !== null) return fromQuery;
  const fromBody = body[name];
  if (typeof fromBody === 'string') return fromBody;
  if (typeof fromBody === 'number') return String(fromBody);
  return null;
}

/** Reads and validates the WP Fusion-compatible parameters. The access key is checked elsewhere. */
export function parseWebhookParams(query: URLSearchParams, body: Record<string, unknown>): WebhookParams {
  const accessKey = pickParam(query, body, 'access_key');
  const action = pickParam(query, body, 'wpf_action');
  if (action === null || action === '') throw new AppError('missing_action', 'wpf_action is required: update, update_tags, add or test');
  if (action !== 'test' && !isWebhookAction(action)) {
    throw new AppError('unknown_action', 'wpf_action must be one of update, update_tags, add, test');
  }
  const contactId = pickParam(query, body, 'contact_id');
  if (contactId !== null && contactId !== '' && !CONTACT_ID.test(contactId)) {
    throw new AppError('invalid_request', 'contact_id must be 1–128 letters, digits or . _ @ + : -');
  }
  const role = pickParam(query, body, 'role');
  if (role !== null && role !== '' && !ROLE.test(role)) throw new AppError('invalid_request', 'role must be 1–64 letters, digits, _ or -');
  const notify = pickParam(query, body, 'send_notification');
  if (notify !== null && !['true', 'false', '1', '0', ''].includes(notify)) {
    throw new AppError('invalid_request', 'send_notification must be true or false');
  }
  return {
    action: action as WebhookAction | 'test',
    accessKey,
    contactId: contactId || null,
    role: role || null,
    sendNotification: notify === 'true' || notify === '1',
  };
}
