import type { z } from 'zod';
import { CrmError } from '../errors.js';
import { CrmHttp, type CrmRequest } from '../http.js';
import type { CrmOptions } from '../types.js';
import {
  contactResponseSchema,
  contactPageSchema,
  contactsResponseSchema,
  fieldsResponseSchema,
  tagsResponseSchema,
  type RawContact,
  type RawContactWrite,
} from './types.js';

/**
 * The sandbox CRM's HTTP API, one method per endpoint. Every call goes through CrmHttp, so it
 * takes a rate-limiter token, has a timeout and absorbs a 429 by its Retry-After.
 */
export class SandboxClient {
  private readonly http: CrmHttp;

  constructor(options: Pick<CrmOptions, 'baseUrl' | 'apiKey' | 'limiter' | 'timeoutMs' | 'onCall'>) {
    this.http = new CrmHttp({
      baseUrl: options.baseUrl,
      headers: { authorization: `Bearer ${options.apiKey}` },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** At most 100 ids; unknown ones are absent. */
  async getContacts(ids: readonly string[]): Promise<RawContact[]> {
    return (await this.call(contactsResponseSchema, { path: '/api/contacts', query: { ids: ids.join(',') } })).contacts;
  }

  /** A page of the listing: in ID order after `after`, filtered by tag and modification time. */
  async listContacts(query: { tag?: string; updatedAfter?: number; after: string | null; limit: number }) {
    return this.call(contactPageSchema, {
      path: '/api/contacts',
      query: {
        ...(query.tag !== undefined && { tag: query.tag }),
        ...(query.updatedAfter !== undefined && { updated_after: new Date(query.updatedAfter).toISOString() }),
        ...(query.after !== null && { after: query.after }),
        limit: String(query.limit),
      },
    });
  }

  async findByEmail(email: string): Promise<RawContact | null> {
    return (await this.call(contactsResponseSchema, { path: '/api/contacts', query: { email } })).contacts[0] ?? null;
  }

  async upsert(body: RawContactWrite): Promise<RawContact> {
    return (await this.call(contactResponseSchema, { method: 'POST', path: '/api/contacts', json: body })).contact;
  }

  async patch(id: string, fields: Record<string, string | null>): Promise<RawContact> {
    return (await this.call(contactResponseSchema, { method: 'PATCH', path: `/api/contacts/${encodeURIComponent(id)}`, json: { fields } })).contact;
  }

  async changeTags(id: string, delta: { apply?: readonly string[]; remove?: readonly string[] }): Promise<RawContact> {
    return (await this.call(contactResponseSchema, { method: 'POST', path: `/api/contacts/${encodeURIComponent(id)}/tags`, json: delta })).contact;
  }

  async listTags(): Promise<string[]> {
    return (await this.call(tagsResponseSchema, { path: '/api/tags' })).tags;
  }

  async listFields(): Promise<{ id: string; name: string }[]> {
    return (await this.call(fieldsResponseSchema, { path: '/api/fields' })).fields;
  }

  /** One call; a 404 (which CrmHttp hands back) is a permanent error, as is an unexpected body. */
  private async call<T>(schema: z.ZodType<T>, req: CrmRequest): Promise<T> {
    const response = await this.http.request(req);
    const where = `${req.method ?? 'GET'} ${req.path}`;
    if (response.status === 404) throw new CrmError('permanent', `${where}: not found in the sandbox CRM`, 404);
    const parsed = schema.safeParse(response.body);
    if (!parsed.success) throw new CrmError('permanent', `${where}: unexpected response from the sandbox CRM (${response.status})`, response.status);
    return parsed.data;
  }
}
