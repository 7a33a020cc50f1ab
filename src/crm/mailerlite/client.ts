import { CrmError } from '../errors.js';
import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import type { MlBatchAnswer, MlBatchRequest, MlData, MlField, MlGroup, MlPage, MlSubscriber } from './types.js';

/** "A maximum of 50 requests can be performed in a single batch" (Batching). */
export const BATCH_LIMIT = 50;
/** Page size for `GET /groups` and `GET /fields` (the documented example pages by 100). */
export const PAGE_LIMIT = 100;

/** `https://connect.mailerlite.com`, with or without `/api` (and a trailing slash), becomes `…/api/`. */
export function mailerliteApiBase(baseUrl: string): string {
  const url = new URL(baseUrl || 'https://connect.mailerlite.com');
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api$/, '');
  url.pathname = `${path}/api/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * One small function per MailerLite endpoint, all through CrmHttp (limiter token per attempt,
 * timeout, 429 pause for Retry-After, CrmError kinds). Auth: `Authorization: Bearer <token>`;
 * the docs ask for `Accept` and `Content-Type: application/json` on every request. A 404 comes
 * back as `null`/`false`.
 */
export class MailerLiteClient {
  private readonly http: CrmHttp;

  constructor(options: CrmOptions) {
    this.http = new CrmHttp({
      baseUrl: mailerliteApiBase(options.baseUrl),
      headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** `GET /subscribers/{id_or_email}` → the subscriber with its `groups`. */
  async getSubscriber(ref: string): Promise<MlSubscriber | null> {
    const res = await this.http.request<MlData<MlSubscriber>>({ path: `subscribers/${encodeURIComponent(ref)}` });
    return res.status === 404 ? null : res.body.data;
  }

  /**
   * Up to 50 subscribers in one `POST /batch` of `GET api/subscribers/{ref}`, one call against
   * the rate limit. Each ref's answer: the subscriber, `null` for a 404; any other failing
   * sub-response fails the whole load with its kind.
   */
  async getSubscribers(refs: readonly string[]): Promise<Map<string, MlSubscriber | null>> {
    const requests: MlBatchRequest[] = refs.map((ref) => ({ method: 'GET', path: `api/subscribers/${encodeURIComponent(ref)}` }));
    const answers = await this.batch(requests);
    const result = new Map<string, MlSubscriber | null>();
    refs.forEach((ref, i) => {
      const answer = answers[i]!;
      if (answer.code === 404) result.set(ref, null);
      else if (answer.code >= 200 && answer.code < 300) result.set(ref, (answer.body as MlData<MlSubscriber>).data);
      else throw subError('GET api/subscribers/{ref}', answer);
    });
    return result;
  }

  async batch(requests: readonly MlBatchRequest[]): Promise<{ code: number; body: unknown }[]> {
    if (requests.length > BATCH_LIMIT) throw new Error(`a MailerLite batch takes at most ${BATCH_LIMIT} requests`);
    const res = await this.http.request<MlBatchAnswer>({ method: 'POST', path: 'batch', json: { requests } });
    const responses = res.body?.responses;
    if (res.status === 404 || !Array.isArray(responses) || responses.length !== requests.length) {
      throw new CrmError('transient', `POST /api/batch: expected ${requests.length} responses, got ${Array.isArray(responses) ? responses.length : 'none'} (${res.status})`, res.status);
    }
    return responses;
  }

  /** `POST /subscribers` `{email, fields}`: create, or non-destructive update (200/201 `{data}`). */
  async upsertSubscriber(email: string, fields: Record<string, string | null>): Promise<MlSubscriber> {
    const json: Record<string, unknown> = { email };
    if (Object.keys(fields).length > 0) json.fields = fields;
    const res = await this.http.request<MlData<MlSubscriber>>({ method: 'POST', path: 'subscribers', json });
    return res.body.data;
  }

  /** `PUT /subscribers/{id}` `{fields}` (200); false when the subscriber does not exist. */
  async updateSubscriber(id: string, fields: Record<string, string | null>): Promise<boolean> {
    const res = await this.http.request({ method: 'PUT', path: `subscribers/${encodeURIComponent(id)}`, json: { fields } });
    return res.status !== 404;
  }

  /** `POST /subscribers/{id}/groups/{group_id}` (200 `{data: group}`); false on 404. */
  async assignGroup(subscriberId: string, groupId: string): Promise<boolean> {
    const res = await this.http.request({ method: 'POST', path: `subscribers/${encodeURIComponent(subscriberId)}/groups/${encodeURIComponent(groupId)}` });
    return res.status !== 404;
  }

  /** `DELETE /subscribers/{id}/groups/{group_id}` (204); false on 404. */
  async unassignGroup(subscriberId: string, groupId: string): Promise<boolean> {
    const res = await this.http.request({ method: 'DELETE', path: `subscribers/${encodeURIComponent(subscriberId)}/groups/${encodeURIComponent(groupId)}` });
    return res.status !== 404;
  }

  async allGroups(): Promise<MlGroup[]> {
    return this.allPages<MlGroup>('groups');
  }

  /** `POST /groups` `{name}` → 201 `{data: group}`. */
  async createGroup(name: string): Promise<MlGroup> {
    const res = await this.http.request<MlData<MlGroup>>({ method: 'POST', path: 'groups', json: { name } });
    return res.body.data;
  }

  async allFields(): Promise<MlField[]> {
    return this.allPages<MlField>('fields');
  }

  /** Page-numbered lists (`page` from 1) until `meta.last_page`, or a short page. */
  private async allPages<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; ; page++) {
      const res = await this.http.request<MlPage<T>>({ path, query: { limit: PAGE_LIMIT, page } });
      const data = res.body?.data ?? [];
      items.push(...data);
      const last = res.body?.meta?.last_page;
      if (data.length === 0 || (last !== undefined ? page >= last : data.length < PAGE_LIMIT)) return items;
    }
  }
}

function subError(what: string, answer: { code: number; body: unknown }): CrmError {
  const message = typeof answer.body === 'object' && answer.body && 'message' in answer.body ? `: ${String((answer.body as { message: unknown }).message).slice(0, 200)}` : '';
  const kind = answer.code === 429 ? 'rate_limited' : answer.code >= 500 ? 'transient' : 'permanent';
  // A sub-response has no headers: a 429 in it leaves the wait to the queue's backoff.
  return new CrmError(kind, `POST /api/batch → ${what}: CRM answered ${answer.code}${message}`, answer.code);
}
