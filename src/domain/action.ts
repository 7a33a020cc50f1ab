/**
 * What a reconcile pass must do for one contact. Ordered by strength: a pending job that
 * receives a stronger request is upgraded, never duplicated (see `strongerAction`).
 * `push` only sends local changes; the others also load the contact from the CRM.
 */
export const ACTIONS = ['push', 'update_tags', 'update', 'add'] as const;
export type Action = (typeof ACTIONS)[number];

/** The actions a webhook may ask for (`wpf_action`), besides `test`. */
export const WEBHOOK_ACTIONS = ['update_tags', 'update', 'add'] as const;
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];

export function isWebhookAction(value: string): value is WebhookAction {
  return (WEBHOOK_ACTIONS as readonly string[]).includes(value);
}

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

export function strongerAction(a: Action, b: Action): Action {
  return ACTIONS.indexOf(a) >= ACTIONS.indexOf(b) ? a : b;
}

/** Whether the action loads the contact from the CRM (everything but a pure push). */
export function loadsContact(action: Action): boolean {
  return action !== 'push';
}

/** Whether the action also syncs mapped fields (not only tags). */
export function syncsFields(action: Action): boolean {
  return action === 'update' || action === 'add';
}
