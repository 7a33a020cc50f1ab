import { CrmError } from '../errors.js';
import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import type { DripCustomFieldList, DripSubscriber, DripSubscriberList, DripSubscriberWrite, DripTagList } from './types.js';

/**
 * `CRMSYNC_CRM_URL` names the account: `https://api.getdrip.com/v2/ACCOUNT_ID` (trailing slash
 * optional). Every call of the adapter is under that path. Returns the base with a trailing slash.
 */
export function dripApiBase(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new CrmError('permanent', 'Drip: CRMSYNC_CRM_URL is not a URL (expected https://api.getdrip.com/v2/ACCOUNT_ID)');
  }
  const match = /^(.*\/v2)\/([^/]+)\/?$/.exec(url.pathname);
  if (!match || !/^\d+$/.test(match[2]!)) {
    throw new CrmError('permanent', 'Drip: CRMSYNC_CRM_URL must end with the account ID: https://api.getdrip.com/v2/ACCOUNT_ID (Settings → Account)');
  }
  url.pathname = `${match[1]}/${match[2]}/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** HTTP Basic with the API token as the user name and an empty password (`-u YOUR_API_KEY:`). */
export function basicAuth(apiToken: string): string {
  return `Basic ${Buffer.from(`${apiToken.trim()}:`).toString('base64')}`;
}

/**
 * One small function per Drip endpoint, all through CrmHttp (limiter token per attempt, timeout,
 * 429 pause, errors as CrmError kinds). A 404 comes back as `null` where the call addresses one
 * subscriber.
 */
export class DripClient {
  private readonly http: CrmHttp;

  constructor(options: CrmOptions) {
    this.http = new CrmHttp({
      baseUrl: dripApiBase(options.baseUrl),
      // Drip asks for a User-Agent naming the integration.
      headers: { authorization: basicAuth(options.apiKey), 'user-agent': 'crmsync' },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** `GET /subscribers?status=all[&tags=T]&page=&per_page=`: a page of whole subscribers (with tags and custom fields). */
  async listSubscribersPage(page: number, perPage: number, tag?: string): Promise<DripSubscriberList> {
    const res = await this.http.request<DripSubscriberList>({ path: 'subscribers', query: { status: 'all', tags: tag, page, per_page: Math.min(perPage, 1000) } });
    return res.body;
  }

  /** `GET /subscribers/:id_or_email` → the one subscriber, or null on 404. */
  async getSubscriber(idOrEmail: string): Promise<DripSubscriber | null> {
    const res = await this.http.request<DripSubscriberList>({ path: `subscribers/${encodeURIComponent(idOrEmail)}` });
    if (res.status === 404) return null;
    return res.body?.subscribers?.[0] ?? null;
  }

  /** `POST /subscribers` with one subscriber: create, or update the one with that e-mail (or id). Null on 404. */
  async createOrUpdate(subscriber: DripSubscriberWrite): Promise<DripSubscriber | null> {
    const res = await this.http.request<DripSubscriberList>({ method: 'POST', path: 'subscribers', json: { subscribers: [subscriber] } });
    if (res.status === 404) return null;
    const written = res.body?.subscribers?.[0];
    if (!written?.id) throw new CrmError('transient', 'Drip POST /subscribers answered without a subscriber id');
    return written;
  }

  /** `POST /tags` `{tags:[{email, tag}]}`: applies one tag by name (Drip creates unknown tags). */
  async applyTag(email: string, tag: string): Promise<boolean> {
    const res = await this.http.request({ method: 'POST', path: 'tags', json: { tags: [{ email, tag }] } });
    return res.status !== 404;
  }

  /** `DELETE /subscribers/:id_or_email/tags/:tag` (204). A 404 (contact or tag gone) is answered false. */
  async removeTag(idOrEmail: string, tag: string): Promise<boolean> {
    const res = await this.http.request({ method: 'DELETE', path: `subscribers/${encodeURIComponent(idOrEmail)}/tags/${encodeURIComponent(tag)}` });
    return res.status !== 404;
  }

  async listTags(): Promise<string[]> {
    const res = await this.http.request<DripTagList>({ path: 'tags' });
    return res.body?.tags ?? [];
  }

  async listCustomFields(): Promise<string[]> {
    const res = await this.http.request<DripCustomFieldList>({ path: 'custom_field_identifiers' });
    return res.body?.custom_field_identifiers ?? [];
  }
}
