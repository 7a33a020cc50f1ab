import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import type { KlaviyoList, KlaviyoListCollection, KlaviyoProfile, KlaviyoProfileCollection, KlaviyoProfileDocument, KlaviyoRelationshipCollection } from './types.js';

/** The API revision crmsync is written against (the `revision` header is required). */
export const REVISION = '2026-10-15';
/** `page[size]` ceiling of Get Profiles. */
export const PROFILE_PAGE_SIZE = 100;

/** `https://a.klaviyo.com`, with or without `/api` (and a trailing slash), becomes `https://a.klaviyo.com/api/`. */
export function klaviyoApiBase(baseUrl: string): string {
  const url = new URL(baseUrl || 'https://a.klaviyo.com');
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api$/, '');
  url.pathname = `${path}/api/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** A private key is sent as `Klaviyo-API-Key pk_…`; an OAuth access token given as `Bearer …` is sent as is. */
export function authorization(apiKey: string): string {
  const key = apiKey.trim();
  return /^(Bearer|Klaviyo-API-Key)\s/i.test(key) ? key : `Klaviyo-API-Key ${key}`;
}

/** A string literal inside a Klaviyo filter expression. */
export function filterString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The `page[cursor]` of a `links.next` URL, or null on the last page. */
export function nextCursor(next: string | null | undefined): string | null {
  if (!next) return null;
  try {
    return new URL(next).searchParams.get('page[cursor]');
  } catch {
    return null;
  }
}

export class KlaviyoClient {
  private readonly http: CrmHttp;

  constructor(options: CrmOptions) {
    this.http = new CrmHttp({
      baseUrl: klaviyoApiBase(options.baseUrl),
      headers: { authorization: authorization(options.apiKey), revision: REVISION, accept: 'application/vnd.api+json' },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** `GET /profiles?filter=any(id,[…])&page[size]=n`. */
  async profilesByIds(ids: readonly string[]): Promise<KlaviyoProfile[]> {
    const res = await this.http.request<KlaviyoProfileCollection>({
      path: 'profiles',
      query: { filter: `any(id,[${ids.map(filterString).join(',')}])`, 'page[size]': Math.min(PROFILE_PAGE_SIZE, ids.length) },
    });
    return res.status === 404 ? [] : (res.body.data ?? []);
  }

  /**
   * A page of Get Profiles (optionally `filter=greater-than(updated,…)`) or, for `listId`, of Get
   * List Profiles: 100 per page, the next page's cursor taken from `links.next`.
   */
  async profilesPage(query: { cursor: string | null; listId?: string; updatedAfter?: string }): Promise<{ ids: string[]; next: string | null } | null> {
    const res = await this.http.request<KlaviyoProfileCollection>({
      path: query.listId === undefined ? 'profiles' : `lists/${encodeURIComponent(query.listId)}/profiles`,
      query: {
        'page[size]': PROFILE_PAGE_SIZE,
        'page[cursor]': query.cursor ?? undefined,
        filter: query.updatedAfter === undefined ? undefined : `greater-than(updated,${query.updatedAfter})`,
      },
    });
    if (res.status === 404) return null;
    const next = res.body.links?.next ? new URL(res.body.links.next).searchParams.get('page[cursor]') : null;
    return { ids: (res.body.data ?? []).map((p) => p.id), next };
  }

  /** `GET /profiles?filter=equals(email,"…")`. */
  async profileByEmail(email: string): Promise<KlaviyoProfile | null> {
    const res = await this.http.request<KlaviyoProfileCollection>({ path: 'profiles', query: { filter: `equals(email,${filterString(email)})` } });
    return res.status === 404 ? null : (res.body.data?.[0] ?? null);
  }

  /** Every list id the profile is in (`GET /profiles/{id}/relationships/lists`, paged); null when unknown. */
  async profileListIds(profileId: string): Promise<string[] | null> {
    const ids: string[] = [];
    for (let cursor: string | null = null; ; ) {
      const res: { status: number; body: KlaviyoRelationshipCollection } = await this.http.request<KlaviyoRelationshipCollection>({
        path: `profiles/${encodeURIComponent(profileId)}/relationships/lists`,
        query: { 'page[cursor]': cursor ?? undefined },
      });
      if (res.status === 404) return null;
      ids.push(...(res.body.data ?? []).filter((r) => r.type === 'list').map((r) => r.id));
      cursor = nextCursor(res.body.links?.next);
      if (!cursor) return ids;
    }
  }

  /** `POST /profile-import`: create, or update the profile with that e-mail (200/201 with the profile). */
  async importProfile(attributes: Record<string, unknown>): Promise<KlaviyoProfile> {
    const res = await this.http.request<KlaviyoProfileDocument>({ method: 'POST', path: 'profile-import', json: { data: { type: 'profile', attributes } } });
    return res.body.data;
  }

  /** `PATCH /profiles/{id}`; false when the profile does not exist. */
  async updateProfile(id: string, attributes: Record<string, unknown>, unset: readonly string[]): Promise<boolean> {
    const json: Record<string, unknown> = { data: { type: 'profile', id, attributes } };
    if (unset.length > 0) json.meta = { patch_properties: { unset } };
    const res = await this.http.request({ method: 'PATCH', path: `profiles/${encodeURIComponent(id)}`, json });
    return res.status !== 404;
  }

  async allLists(): Promise<KlaviyoList[]> {
    const lists: KlaviyoList[] = [];
    for (let cursor: string | null = null; ; ) {
      const res: { body: KlaviyoListCollection } = await this.http.request<KlaviyoListCollection>({ path: 'lists', query: { 'page[cursor]': cursor ?? undefined } });
      lists.push(...(res.body.data ?? []));
      cursor = nextCursor(res.body.links?.next);
      if (!cursor) return lists;
    }
  }

  async createList(name: string): Promise<KlaviyoList> {
    const res = await this.http.request<{ data: KlaviyoList }>({ method: 'POST', path: 'lists', json: { data: { type: 'list', attributes: { name } } } });
    return res.body.data;
  }

  /** `POST|DELETE /lists/{id}/relationships/profiles` (204); false when the list (or profile) is not found. */
  async listMembership(method: 'POST' | 'DELETE', listId: string, profileId: string): Promise<boolean> {
    const res = await this.http.request({ method, path: `lists/${encodeURIComponent(listId)}/relationships/profiles`, json: { data: [{ type: 'profile', id: profileId }] } });
    return res.status !== 404;
  }
}
