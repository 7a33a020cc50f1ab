/**
 * Whether a request URL is the webhook route: `/` (with its query) in the service, or the
 * mount point `prefix` (with or without a trailing slash) in a host app.
 */
export function isWebhookUrl(url: string, prefix = ''): boolean {
  const path = url.split('?', 1)[0];
  return path === `${prefix}/` || (prefix !== '' && path === prefix);
}
