import { CrmError } from '../errors.js';
import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import type { McMember, McMemberList, McMemberTag, McMemberTagList, McMergeField, McMergeFieldList, McSegment, McSegmentList, McTagsUpdate } from './types.js';

/** The documented maximum of `count` on Marketing API collections. */
export const PAGE_LIMIT = 1000;

export type StatusIfNew = 'subscribed' | 'pending' | 'unsubscribed' | 'transactional';
const STATUSES: readonly StatusIfNew[] = ['subscribed', 'pending', 'unsubscribed', 'transactional'];

export interface McTarget {
  /** `https://us6.api.mailchimp.com/3.0/lists/LIST_ID/`: every call of the adapter is under it. */
  listBase: string;
  listId: string;
  /** The status a member created by crmsync gets (`status_if_new`), default `subscribed`. */
  statusIfNew: StatusIfNew;
}

/**
 * `CRMSYNC_CRM_URL` names the audience: `https://us6.api.mailchimp.com/3.0/lists/LIST_ID`, with an
 * optional `?status_if_new=pending` (double opt-in for members crmsync creates). Without the data
 * center in the host (`https://api.mailchimp.com/3.0/lists/LIST_ID`) it is taken from the API
 * key's `-usX` suffix.
 */
export function mailchimpTarget(baseUrl: string, apiKey: string): McTarget {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new CrmError('permanent', `Mailchimp: CRMSYNC_CRM_URL is not a URL (expected https://usX.api.mailchimp.com/3.0/lists/LIST_ID)`);
  }
  const match = /^(.*?)\/lists\/([^/]+)\/?$/.exec(url.pathname);
  if (!match) throw new CrmError('permanent', 'Mailchimp: CRMSYNC_CRM_URL must name the audience: https://usX.api.mailchimp.com/3.0/lists/LIST_ID');
  const statusIfNew = (url.searchParams.get('status_if_new') ?? 'subscribed') as StatusIfNew;
  if (!STATUSES.includes(statusIfNew)) throw new CrmError('permanent', `Mailchimp: status_if_new must be one of ${STATUSES.join(', ')}`);
  if (url.hostname === 'api.mailchimp.com') {
    const dc = /-([a-z]+\d+)$/.exec(apiKey.trim())?.[1];
    if (!dc) throw new CrmError('permanent', 'Mailchimp: the API key has no -usX data center suffix; put the data center in CRMSYNC_CRM_URL');
    url.hostname = `${dc}.api.mailchimp.com`;
  }
  const root = match[1]!.replace(/\/+$/, '');
  const listId = decodeURIComponent(match[2]!);
  return { listBase: `${url.origin}${root}/lists/${encodeURIComponent(listId)}/`, listId, statusIfNew };
}

/**
 * One small function per Mailchimp endpoint, all relative to the configured audience and all
 * through CrmHttp (limiter token per attempt, timeout, 429 pause, CrmError kinds). HTTP Basic
 * auth with any user name and the API key as password. A 404 comes back as `null`.
 */
export class McClient {
  private readonly http: CrmHttp;
  readonly target: McTarget;

  constructor(options: CrmOptions) {
    this.target = mailchimpTarget(options.baseUrl, options.apiKey);
    this.http = new CrmHttp({
      baseUrl: this.target.listBase,
      headers: { authorization: `Basic ${Buffer.from(`crmsync:${options.apiKey}`).toString('base64')}` },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** `GET /lists/{list}/members?count=&offset=[&since_last_changed=]`: a page of the audience. */
  async listMembers(offset: number, count: number, sinceLastChanged?: string): Promise<McMemberList> {
    const res = await this.http.request<McMemberList>({ path: 'members', query: { count: Math.min(count, PAGE_LIMIT), offset, since_last_changed: sinceLastChanged } });
    return res.body;
  }

  /** `GET /lists/{list}/members/{hash}`. */
  async getMember(hash: string): Promise<McMember | null> {
    const res = await this.http.request<McMember>({ path: `members/${hash}` });
    return res.status === 404 ? null : res.body;
  }

  /** `GET /lists/{list}/members/{hash}/tags`, every page (only when a member has more tags than its GET listed). */
  async getMemberTags(hash: string): Promise<McMemberTag[] | null> {
    const tags: McMemberTag[] = [];
    for (let offset = 0; ; ) {
      const res = await this.http.request<McMemberTagList>({ path: `members/${hash}/tags`, query: { count: PAGE_LIMIT, offset } });
      if (res.status === 404) return null;
      const page = res.body.tags ?? [];
      tags.push(...page);
      offset += page.length;
      if (page.length === 0 || offset >= (res.body.total_items ?? 0)) return tags;
    }
  }

  /** `PUT /lists/{list}/members/{hash}`: add or update the member with this address. */
  async upsertMember(hash: string, body: Record<string, unknown>): Promise<McMember> {
    const res = await this.http.request<McMember>({ method: 'PUT', path: `members/${hash}`, query: { skip_merge_validation: 'true' }, json: body });
    if (res.status === 404) throw new CrmError('permanent', `Mailchimp has no audience ${this.target.listId}`, 404);
    return res.body;
  }

  /** `PATCH /lists/{list}/members/{hash}`: only the given merge fields change. */
  async updateMember(hash: string, body: Record<string, unknown>): Promise<McMember | null> {
    const res = await this.http.request<McMember>({ method: 'PATCH', path: `members/${hash}`, query: { skip_merge_validation: 'true' }, json: body });
    return res.status === 404 ? null : res.body;
  }

  /** `POST /lists/{list}/members/{hash}/tags` (204): `active` adds, `inactive` removes; unknown names are created. */
  async updateMemberTags(hash: string, body: McTagsUpdate): Promise<boolean> {
    const res = await this.http.request({ method: 'POST', path: `members/${hash}/tags`, json: body });
    return res.status !== 404;
  }

  /** Tags are the audience's static segments: `GET /lists/{list}/segments?type=static`. */
  async allTags(): Promise<McSegment[]> {
    const all: McSegment[] = [];
    for (let offset = 0; ; ) {
      const res = await this.http.request<McSegmentList>({ path: 'segments', query: { type: 'static', count: PAGE_LIMIT, offset } });
      const page = res.body.segments ?? [];
      all.push(...page);
      offset += page.length;
      if (page.length === 0 || offset >= (res.body.total_items ?? 0)) return all;
    }
  }

  async allMergeFields(): Promise<McMergeField[]> {
    const all: McMergeField[] = [];
    for (let offset = 0; ; ) {
      const res = await this.http.request<McMergeFieldList>({ path: 'merge-fields', query: { count: PAGE_LIMIT, offset } });
      const page = res.body.merge_fields ?? [];
      all.push(...page);
      offset += page.length;
      if (page.length === 0 || offset >= (res.body.total_items ?? 0)) return all;
    }
  }
}
