import { CrmError } from '../errors.js';
import { CrmHttp, type CrmRequest, type CrmResponse } from '../http.js';
import type { RateLimiter } from '../rate-limiter.js';
import type { CrmOptions } from '../types.js';
import type {
  HsBatchResponse,
  HsList,
  HsListResponse,
  HsListSearchResponse,
  HsMembershipChange,
  HsMembershipsBatchResponse,
  HsMembership,
  HsObject,
  HsPage,
  HsProperty,
  HsPropertyList,
  HsUpsertResult,
} from './types.js';

export const DEFAULT_BASE_URL = 'https://api.hubapi.com';
/** HubSpot's object type id for contacts (lists and memberships address records by it). */
export const CONTACT_OBJECT_TYPE = '0-1';
/** The documented ceiling of the CRM objects batch endpoints ("limited to 100 records"). */
export const BATCH_LIMIT = 100;
/** `count` of a list search page (documented maximum 500). */
export const LIST_PAGE = 500;
/**
 * HubSpot's burst window ("100 requests per 10 seconds", rolling). Its 429s usually carry no
 * Retry-After, so CrmHttp waits its default second (the secondly limit) and retries; when a call
 * still meets 429s after those waits, the rolling window is waited out as a whole.
 */
export const ROLLING_WINDOW_MS = 10_000;

/**
 * `https://api.hubapi.com`, with or without a trailing slash or a pasted `/crm/v3` path, becomes
 * `https://api.hubapi.com/`. An empty value means the public API.
 */
export function hsApiBase(baseUrl: string): string {
  const url = new URL(baseUrl.trim() || DEFAULT_BASE_URL);
  url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/crm\/v3$/, '')}/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * One small function per HubSpot endpoint, all through CrmHttp (limiter token per attempt,
 * timeout, 429 pause, CrmError kinds). Auth is the private app's access token as a bearer
 * token. A 404 comes back as `null` where the endpoint addresses one record or list.
 */
export class HsClient {
  private readonly crmHttp: CrmHttp;
  private readonly limiter: RateLimiter;

  constructor(options: CrmOptions) {
    this.limiter = options.limiter;
    this.crmHttp = new CrmHttp({
      baseUrl: hsApiBase(options.baseUrl),
      headers: { authorization: `Bearer ${options.apiKey}` },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** CrmHttp, and when its short waits did not clear the 429, a pause of the whole rolling window. */
  private async request<T>(req: CrmRequest): Promise<CrmResponse<T>> {
    try {
      return await this.crmHttp.request<T>(req);
    } catch (error) {
      if (!(error instanceof CrmError) || error.kind !== 'rate_limited') throw error;
      this.limiter.pauseFor(ROLLING_WINDOW_MS);
      throw new CrmError('rate_limited', `${error.message}; waiting out HubSpot's 10-second window`, 429, ROLLING_WINDOW_MS);
    }
  }

  /** `POST /crm/v3/objects/contacts/batch/read`: ≤ 100 contacts by id; unknown ids are absent (207). */
  async batchReadContacts(ids: readonly string[], properties: readonly string[]): Promise<HsObject[]> {
    const res = await this.request<HsBatchResponse>({
      method: 'POST',
      path: 'crm/v3/objects/contacts/batch/read',
      json: { properties, propertiesWithHistory: [], inputs: ids.map((id) => ({ id })) },
    });
    return res.status === 404 ? [] : (res.body.results ?? []);
  }

  /** `GET /crm/v3/objects/contacts`: a page of contact IDs (`limit` ≤ 100, `after` cursor). */
  async listContactIds(after: string | null, limit: number): Promise<HsPage<HsObject>> {
    const res = await this.request<HsPage<HsObject>>({ path: 'crm/v3/objects/contacts', query: { limit: Math.min(limit, BATCH_LIMIT), after: after ?? undefined, archived: 'false' } });
    return res.body;
  }

  /** `GET /crm/v3/lists/{listId}/memberships`: a page of a list's record IDs (`limit` ≤ 250). */
  async listMemberships(listId: string, after: string | null, limit: number): Promise<HsPage<HsMembership> | null> {
    const res = await this.request<HsPage<HsMembership>>({ path: `crm/v3/lists/${encodeURIComponent(listId)}/memberships`, query: { limit: Math.min(limit, 250), after: after ?? undefined } });
    return res.status === 404 ? null : res.body;
  }

  /**
   * `POST /crm/v3/objects/contacts/search` on `lastmodifieddate ≥ since`, oldest change first
   * (`limit` ≤ 200; a search reaches at most 10,000 results).
   */
  async searchModifiedSince(since: number, after: string | null, limit: number): Promise<HsPage<HsObject>> {
    const res = await this.request<HsPage<HsObject>>({
      method: 'POST',
      path: 'crm/v3/objects/contacts/search',
      json: {
        filterGroups: [{ filters: [{ propertyName: 'lastmodifieddate', operator: 'GTE', value: String(since) }] }],
        sorts: [{ propertyName: 'lastmodifieddate', direction: 'ASCENDING' }],
        properties: ['lastmodifieddate'],
        limit: Math.min(limit, 200),
        ...(after !== null && { after }),
      },
    });
    return res.body;
  }

  /** `GET /crm/v3/objects/contacts/{email}?idProperty=email`: one contact by e-mail, or null. */
  async getContactByEmail(email: string, properties: readonly string[]): Promise<HsObject | null> {
    const res = await this.request<HsObject>({
      path: `crm/v3/objects/contacts/${encodeURIComponent(email)}`,
      query: { idProperty: 'email', properties: properties.join(',') },
    });
    return res.status === 404 ? null : res.body;
  }

  /** `POST /crm/v3/objects/contacts/batch/upsert` with `idProperty: email`: create or update by e-mail. */
  async upsertByEmail(email: string, properties: Record<string, string>): Promise<HsUpsertResult | null> {
    const res = await this.request<HsBatchResponse<HsUpsertResult>>({
      method: 'POST',
      path: 'crm/v3/objects/contacts/batch/upsert',
      json: { inputs: [{ id: email, idProperty: 'email', properties }] },
    });
    return res.body.results?.[0] ?? null;
  }

  /** `PATCH /crm/v3/objects/contacts/{id}`; null when the contact does not exist. */
  async updateContact(id: string, properties: Record<string, string>): Promise<HsObject | null> {
    const res = await this.request<HsObject>({ method: 'PATCH', path: `crm/v3/objects/contacts/${encodeURIComponent(id)}`, json: { properties } });
    return res.status === 404 ? null : res.body;
  }

  /** `POST /crm/v3/lists/records/memberships/batch/read`: the lists of several contacts in one call. */
  async batchReadMemberships(ids: readonly string[]): Promise<HsMembershipsBatchResponse['results']> {
    const res = await this.request<HsMembershipsBatchResponse>({
      method: 'POST',
      path: 'crm/v3/lists/records/memberships/batch/read',
      json: { inputs: ids.map((recordId) => ({ objectTypeId: CONTACT_OBJECT_TYPE, recordId })) },
    });
    return res.status === 404 ? [] : (res.body.results ?? []);
  }

  /**
   * `POST /crm/v3/lists/search`: one page of lists of every processing type (an empty `query`
   * pages through all). Lists of other objects are filtered out by the caller.
   */
  async searchLists(offset: number, query = ''): Promise<HsListSearchResponse> {
    const res = await this.request<HsListSearchResponse>({
      method: 'POST',
      path: 'crm/v3/lists/search',
      json: { query, offset, count: LIST_PAGE },
    });
    return res.body;
  }

  /** Every contact list, page by page. */
  async allLists(): Promise<HsList[]> {
    const lists: HsList[] = [];
    for (let offset = 0, pages = 0; pages < 1000; pages++) {
      const page = await this.searchLists(offset);
      lists.push(...(page.lists ?? []));
      if (!page.hasMore || (page.lists ?? []).length === 0) return lists;
      offset = page.offset ?? offset + page.lists.length;
    }
    return lists;
  }

  /** `GET /crm/v3/lists/object-type-id/0-1/name/{listName}`: a contact list by exact name, or null. */
  async getListByName(name: string): Promise<HsList | null> {
    const res = await this.request<HsListResponse>({
      path: `crm/v3/lists/object-type-id/${CONTACT_OBJECT_TYPE}/name/${encodeURIComponent(name)}`,
    });
    return res.status === 404 ? null : (res.body.list ?? null);
  }

  /** `POST /crm/v3/lists`: a static (MANUAL) contact list. */
  async createStaticList(name: string): Promise<HsList> {
    const res = await this.request<HsListResponse>({
      method: 'POST',
      path: 'crm/v3/lists',
      json: { name, objectTypeId: CONTACT_OBJECT_TYPE, processingType: 'MANUAL' },
    });
    return res.body.list;
  }

  /** `PUT /crm/v3/lists/{listId}/memberships/add|remove` with a JSON array of record ids; null when the list is gone. */
  async changeMembership(listId: string, action: 'add' | 'remove', recordIds: readonly string[]): Promise<HsMembershipChange | null> {
    const res = await this.request<HsMembershipChange>({
      method: 'PUT',
      path: `crm/v3/lists/${encodeURIComponent(listId)}/memberships/${action}`,
      json: recordIds,
    });
    return res.status === 404 ? null : res.body;
  }

  /** `GET /crm/v3/properties/contacts`: every contact property (not paged). */
  async contactProperties(): Promise<HsProperty[]> {
    const res = await this.request<HsPropertyList>({ path: 'crm/v3/properties/contacts' });
    return res.body.results ?? [];
  }
}
