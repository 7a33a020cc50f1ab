import { CrmError } from '../errors.js';
import { CrmHttp, type CrmRequest, type CrmResponse } from '../http.js';
import type { CrmOptions } from '../types.js';
import type { KitCustomField, KitCustomFieldList, KitSubscriber, KitSubscriberBody, KitSubscriberList, KitTag, KitTagList } from './types.js';

/** "Number of results per page. Default 500, maximum 1000." */
export const PAGE_LIMIT = 1000;

/**
 * Kit's 429 carries no Retry-After ("A wait of up to 60 seconds resets the limit … If you get
 * another 429 response, increase the wait time. Use exponential backoff."). The first 429 pauses
 * the shared limiter this long, each further one in a row twice as long, up to 60 s.
 */
export const RATE_LIMIT_BACKOFF_MS = 15_000;
export const RATE_LIMIT_BACKOFF_MAX_MS = 60_000;

export interface KitTuning {
  /** First pause after a 429 (tests shorten it). */
  rateLimitBackoffMs?: number;
  /** 429s one call absorbs before giving up to the queue. */
  rateLimitRetries?: number;
}

/** `https://api.kit.com` with or without `/v4` (and a trailing slash) becomes `https://api.kit.com/v4/`. */
export function kitApiBase(baseUrl: string): string {
  const url = new URL(baseUrl || 'https://api.kit.com');
  url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/v4$/, '')}/v4/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * One small function per Kit v4 endpoint, all through CrmHttp (limiter token per attempt, timeout,
 * CrmError kinds) with the `X-Kit-Api-Key` header. A 404 comes back as `null`.
 */
export class KitClient {
  private readonly http: CrmHttp;
  private backoffMs = 0;
  private readonly baseBackoffMs: number;
  private readonly retries: number;

  constructor(
    private readonly options: CrmOptions,
    tuning: KitTuning = {},
  ) {
    this.http = new CrmHttp({
      baseUrl: kitApiBase(options.baseUrl),
      headers: { 'X-Kit-Api-Key': options.apiKey },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      maxRateLimitWaits: 0, // the backoff below replaces CrmHttp's Retry-After wait
      onCall: options.onCall,
    });
    this.baseBackoffMs = tuning.rateLimitBackoffMs ?? RATE_LIMIT_BACKOFF_MS;
    this.retries = tuning.rateLimitRetries ?? 2;
  }

  /** CrmHttp, plus Kit's documented 429 handling: pause the shared limiter with exponential backoff, retry. */
  private async request<T>(req: CrmRequest): Promise<CrmResponse<T>> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.http.request<T>(req);
        this.backoffMs = 0;
        return res;
      } catch (error) {
        if (!(error instanceof CrmError) || error.kind !== 'rate_limited') throw error;
        this.backoffMs = this.backoffMs === 0 ? this.baseBackoffMs : Math.min(this.backoffMs * 2, RATE_LIMIT_BACKOFF_MAX_MS);
        this.options.limiter.pauseFor(this.backoffMs);
        if (attempt >= this.retries) throw new CrmError('rate_limited', error.message, 429, this.backoffMs);
      }
    }
  }

  async getSubscriber(id: string): Promise<KitSubscriber | null> {
    const res = await this.request<KitSubscriberBody>({ path: `subscribers/${id}` });
    return res.status === 404 ? null : res.body.subscriber;
  }

  /** `GET /v4/subscribers?email_address=…&status=all&include=tags` (every state, tags side loaded). */
  async findSubscribers(email: string): Promise<KitSubscriber[]> {
    const res = await this.request<KitSubscriberList>({ path: 'subscribers', query: { email_address: email, status: 'all', include: 'tags' } });
    return res.status === 404 ? [] : (res.body.subscribers ?? []);
  }

  /** `POST /v4/subscribers`: an upsert by e-mail; 201 created, 200 existing. */
  /**
   * A page of "List subscribers" (every state, tags included), after the cursor, optionally
   * `updated_after`: `per_page` ≤ 1000, `pagination.end_cursor` while `has_next_page`.
   */
  async listSubscribersPage(after: string | null, perPage: number, updatedAfter?: string): Promise<KitSubscriberList> {
    const res = await this.request<KitSubscriberList>({
      path: 'subscribers',
      query: { status: 'all', include: 'tags', per_page: Math.min(perPage, PAGE_LIMIT), after: after ?? undefined, updated_after: updatedAfter },
    });
    return res.body;
  }

  async createSubscriber(body: Record<string, unknown>): Promise<{ created: boolean; body: KitSubscriberBody }> {
    const res = await this.request<KitSubscriberBody>({ method: 'POST', path: 'subscribers', json: body });
    return { created: res.status === 201, body: res.body };
  }

  async updateSubscriber(id: string, body: Record<string, unknown>): Promise<KitSubscriberBody | null> {
    const res = await this.request<KitSubscriberBody>({ method: 'PUT', path: `subscribers/${id}`, json: body });
    return res.status === 404 ? null : res.body;
  }

  /** `GET /v4/subscribers/{id}/tags`, every page; null when the subscriber does not exist. */
  async subscriberTags(id: string): Promise<KitTag[] | null> {
    return this.pages<KitTagList, KitTag>(`subscribers/${id}/tags`, (b) => b.tags);
  }

  async allTags(): Promise<KitTag[]> {
    return (await this.pages<KitTagList, KitTag>('tags', (b) => b.tags)) ?? [];
  }

  /** `POST /v4/tags`: creates, or returns the existing tag of that name (200). */
  async createTag(name: string): Promise<KitTag> {
    const res = await this.request<{ tag: KitTag }>({ method: 'POST', path: 'tags', json: { name } });
    return res.body.tag;
  }

  /** `POST /v4/tags/{tag_id}/subscribers/{id}`: 201 tagged, 200 already tagged, 404 tag or subscriber unknown. */
  async tagSubscriber(tagId: number, id: string): Promise<boolean> {
    const res = await this.request({ method: 'POST', path: `tags/${tagId}/subscribers/${id}`, json: {} });
    return res.status !== 404;
  }

  /** `DELETE /v4/tags/{tag_id}/subscribers/{id}`: 204; a link already gone is fine. */
  async untagSubscriber(tagId: number, id: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `tags/${tagId}/subscribers/${id}` });
  }

  async customFields(): Promise<KitCustomField[]> {
    return (await this.pages<KitCustomFieldList, KitCustomField>('custom_fields', (b) => b.custom_fields)) ?? [];
  }

  /** Cursor pagination: `per_page=1000`, then `after=<end_cursor>` while `has_next_page`. */
  private async pages<B extends { pagination?: { has_next_page?: boolean; end_cursor?: string | null } }, T>(path: string, items: (body: B) => T[] | undefined): Promise<T[] | null> {
    const all: T[] = [];
    let after: string | undefined;
    for (;;) {
      const res = await this.request<B>({ path, query: { per_page: PAGE_LIMIT, after } });
      if (res.status === 404) return null;
      all.push(...(items(res.body) ?? []));
      const next = res.body.pagination;
      if (!next?.has_next_page || !next.end_cursor) return all;
      after = next.end_cursor;
    }
  }
}
