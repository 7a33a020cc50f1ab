import { createHash, randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake Mailchimp Marketing API 3.0 for one account: a real HTTP server on 127.0.0.1 (port 0)
 * speaking the documented shapes of the audience endpoints the adapter uses
 * (mailchimp.com/developer/marketing/api/list-members, …/list-member-tags, …/list-segments,
 * …/list-merges). HTTP Basic auth with the API key as password (401 problem+json otherwise);
 * members are addressed by subscriber hash (MD5 of the lower-cased e-mail) or by the e-mail;
 * errors are `application/problem+json`; the documented "10 simultaneous connections" limit
 * answers 429 (no Retry-After, as documented).
 *
 * Tests seed and read state directly (no HTTP, no limit) and read call counters.
 */
export interface FakeMailchimpOptions {
  apiKey?: string;
  /** Audience ids that exist (default `['a36b032126']`). */
  lists?: string[];
  /** Simultaneous connections allowed (default 10, as documented). */
  maxConnections?: number;
  latencyMs?: number;
  /** How many tags the member GET lists at most (the rest through `/tags`); default: all. */
  memberTagsShown?: number;
  /** The time members' last_changed is stamped with (a test's controllable clock); default Date.now. */
  now?: () => number;
}

export interface FakeMember {
  id: string;
  email: string;
  uniqueEmailId: string;
  status: 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending' | 'transactional' | 'archived';
  merge: Record<string, string>;
  tags: { id: number; name: string; date_added: string }[];
  lastChanged: string;
}

export interface SeedMember {
  email: string;
  status?: FakeMember['status'];
  /** Merge tag → value. */
  merge?: Record<string, string>;
  tags?: string[];
}

interface MergeFieldRow {
  merge_id: number;
  tag: string;
  name: string;
  type: string;
}

const hash = (email: string) => createHash('md5').update(email.trim().toLowerCase()).digest('hex');
const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
const tagDate = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

export class FakeMailchimp {
  readonly apiKey: string;
  readonly listId: string;
  calls = 0;
  rateLimited = 0;
  readonly callsByRoute = new Map<string, number>();
  /** The body of every tag POST, in order. */
  readonly tagRequests: unknown[] = [];

  private readonly app: FastifyInstance;
  private readonly lists: Map<string, { members: Map<string, FakeMember>; segments: Map<number, string>; mergeFields: MergeFieldRow[] }>;
  private nextSegment = 10000;
  private inFlight = 0;
  private maxConnections: number;
  private latencyMs: number;
  private readonly memberTagsShown: number;
  private readonly now: () => number;
  private forced = 0;
  private failures: { count: number; status: number }[] = [];
  private baseUrl = '';

  constructor(options: FakeMailchimpOptions = {}) {
    this.apiKey = options.apiKey ?? 'test0123456789abcdef0123456789ab-us6';
    const ids = options.lists ?? ['a36b032126'];
    this.listId = ids[0]!;
    this.lists = new Map(
      ids.map((id) => [
        id,
        {
          members: new Map(),
          segments: new Map(),
          mergeFields: [
            { merge_id: 1, tag: 'FNAME', name: 'First Name', type: 'text' },
            { merge_id: 2, tag: 'LNAME', name: 'Last Name', type: 'text' },
            { merge_id: 3, tag: 'ADDRESS', name: 'Address', type: 'address' },
            { merge_id: 4, tag: 'PHONE', name: 'Phone Number', type: 'phone' },
            { merge_id: 5, tag: 'BIRTHDAY', name: 'Birthday', type: 'birthday' },
          ],
        },
      ]),
    );
    this.maxConnections = options.maxConnections ?? 10;
    this.latencyMs = options.latencyMs ?? 0;
    this.memberTagsShown = options.memberTagsShown ?? Infinity;
    this.now = options.now ?? Date.now;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** The API root, like `https://us6.api.mailchimp.com/3.0`. */
  get apiRoot(): string {
    return `${this.baseUrl}/3.0`;
  }

  /** What goes in CRMSYNC_CRM_URL: the API root + `/lists/LIST_ID`. */
  get url(): string {
    return `${this.apiRoot}/lists/${this.listId}`;
  }

  async listen(): Promise<this> {
    this.baseUrl = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  setMaxConnections(n: number): void {
    this.maxConnections = n;
  }

  /** The next `count` requests are refused with 429 (Mailchimp sends no Retry-After). */
  forceRateLimit(count = 1): void {
    this.forced += count;
  }

  failNext(status: number, count = 1): void {
    this.failures.push({ count, status });
  }

  resetCounters(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.callsByRoute.clear();
    this.tagRequests.length = 0;
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  // ---- state helpers for tests (no HTTP) ----

  seedMember(seed: SeedMember, listId = this.listId): string {
    const list = this.list(listId)!;
    const id = hash(seed.email);
    const member: FakeMember = list.members.get(id) ?? {
      id,
      email: seed.email.trim(),
      uniqueEmailId: randomBytes(5).toString('hex'),
      status: seed.status ?? 'subscribed',
      merge: {},
      tags: [],
      lastChanged: stamp(this.now()),
    };
    for (const [tag, value] of Object.entries(seed.merge ?? {})) member.merge[tag] = value;
    for (const name of seed.tags ?? []) this.tag(listId, member, name, true);
    list.members.set(id, member);
    return id;
  }

  member(id: string, listId = this.listId): FakeMember | null {
    return this.list(listId)?.members.get(id) ?? null;
  }

  /** Tag a member as if someone did it in Mailchimp. */
  tagMember(id: string, name: string, listId = this.listId): void {
    const member = this.member(id, listId)!;
    this.tag(listId, member, name, true);
    member.lastChanged = stamp(this.now()); // as the tags endpoint does here (an assumption: see the adapter's README)
  }

  seedMergeField(tag: string, name: string, listId = this.listId): void {
    const fields = this.list(listId)!.mergeFields;
    fields.push({ merge_id: fields.length + 1, tag, name, type: 'text' });
  }

  private list(id: string) {
    return this.lists.get(id);
  }

  private tag(listId: string, member: FakeMember, name: string, active: boolean): void {
    const list = this.list(listId)!;
    let segment = [...list.segments].find(([, n]) => n.toLowerCase() === name.toLowerCase());
    if (!segment && active) {
      segment = [this.nextSegment++, name];
      list.segments.set(segment[0], name);
    }
    if (!segment) return;
    const has = member.tags.findIndex((t) => t.id === segment![0]);
    if (active && has < 0) member.tags.push({ id: segment[0], name: segment[1], date_added: tagDate(this.now()) });
    if (!active && has >= 0) member.tags.splice(has, 1);
  }

  private memberJson(m: FakeMember, listId: string) {
    const self = `${this.apiRoot}/lists/${listId}/members/${m.id}`;
    const merge: Record<string, unknown> = {};
    for (const f of this.list(listId)!.mergeFields) merge[f.tag] = f.type === 'address' ? (m.merge[f.tag] ?? '') : (m.merge[f.tag] ?? '');
    return {
      id: m.id,
      email_address: m.email,
      unique_email_id: m.uniqueEmailId,
      contact_id: createHash('md5').update(`contact:${m.id}`).digest('hex'),
      full_name: [m.merge.FNAME, m.merge.LNAME].filter(Boolean).join(' '),
      web_id: parseInt(m.id.slice(0, 7), 16),
      email_type: 'html',
      status: m.status,
      merge_fields: merge,
      stats: { avg_open_rate: 0, avg_click_rate: 0 },
      ip_signup: '',
      timestamp_signup: '',
      ip_opt: '',
      timestamp_opt: m.lastChanged,
      member_rating: 2,
      last_changed: m.lastChanged,
      language: '',
      vip: false,
      email_client: '',
      source: 'API - Generic',
      tags_count: m.tags.length,
      tags: m.tags.slice(0, this.memberTagsShown).map((t) => ({ id: t.id, name: t.name })),
      list_id: listId,
      _links: [{ rel: 'self', href: self, method: 'GET' }],
    };
  }

  private problem(reply: FastifyReply, status: number, title: string, detail: string, instance = randomBytes(8).toString('hex')) {
    return reply
      .code(status)
      .type('application/problem+json; charset=utf-8')
      .send({ type: 'https://mailchimp.com/developer/marketing/docs/errors/', title, status, detail, instance });
  }

  private routes(): void {
    const app = this.app;

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      this.inFlight++;
      (req as FastifyRequest & { counted?: boolean }).counted = true;
      if (this.forced > 0 || this.inFlight > this.maxConnections) {
        if (this.forced > 0) this.forced--;
        this.rateLimited++;
        return this.problem(reply, 429, 'Too Many Requests', `You have exceeded the limit of ${this.maxConnections} simultaneous connections.`);
      }
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      const failure = this.failures[0];
      if (failure) {
        if (--failure.count <= 0) this.failures.shift();
        return this.problem(reply, failure.status, 'Service Unavailable', 'The service is temporarily unavailable.');
      }
      const auth = req.headers.authorization ?? '';
      const password = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':').slice(1).join(':') : null;
      if (password !== this.apiKey) {
        return this.problem(reply, 401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter.");
      }
    });
    app.addHook('onResponse', async (req) => {
      if ((req as FastifyRequest & { counted?: boolean }).counted) this.inFlight--;
    });

    app.setNotFoundHandler((_req, reply) => this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.'));

    type P = { Params: { list: string; hash: string } };
    const find = (params: { list: string; hash: string }) => {
      const list = this.list(params.list);
      const key = params.hash.includes('@') ? hash(decodeURIComponent(params.hash)) : params.hash.toLowerCase();
      return { list, member: list?.members.get(key) ?? null, key };
    };

    // List members: count ≤ 1000, offset, since_last_changed (ISO 8601), total_items.
    app.get<{ Params: { list: string } }>('/3.0/lists/:list/members', async (req, reply) => {
      const list = this.list(req.params.list);
      if (!list) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      const q = new URL(req.url, 'http://x').searchParams;
      const count = Number(q.get('count') ?? 10);
      if (!Number.isInteger(count) || count < 1 || count > 1000) return this.problem(reply, 400, 'Invalid Resource', 'count must be 1 to 1000');
      const offset = Number(q.get('offset') ?? 0) || 0;
      let members = [...list.members.values()];
      const since = q.get('since_last_changed');
      if (since !== null) {
        const at = Date.parse(since);
        if (Number.isNaN(at)) return this.problem(reply, 400, 'Invalid Resource', 'since_last_changed is not a date');
        members = members.filter((m) => Date.parse(m.lastChanged) >= at);
      }
      return { members: members.slice(offset, offset + count).map((m) => this.memberJson(m, req.params.list)), list_id: req.params.list, total_items: members.length };
    });

    app.get<P>('/3.0/lists/:list/members/:hash', async (req, reply) => {
      const { list, member } = find(req.params);
      if (!list || !member) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      return this.memberJson(member, req.params.list);
    });

    app.get<P>('/3.0/lists/:list/members/:hash/tags', async (req, reply) => {
      const { list, member } = find(req.params);
      if (!list || !member) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      const q = new URL(req.url, 'http://x').searchParams;
      const count = Math.min(1000, Number(q.get('count') ?? 10) || 10);
      const offset = Number(q.get('offset') ?? 0) || 0;
      return { tags: member.tags.slice(offset, offset + count), total_items: member.tags.length };
    });

    // Add or update list member (upsert by subscriber hash).
    app.put<P>('/3.0/lists/:list/members/:hash', async (req, reply) => {
      const { list, member, key } = find(req.params);
      if (!list) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      const body = (req.body ?? {}) as { email_address?: unknown; status_if_new?: unknown; status?: unknown; merge_fields?: Record<string, unknown> };
      const email = typeof body.email_address === 'string' ? body.email_address.trim() : '';
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return this.problem(reply, 400, 'Invalid Resource', 'Please provide a valid email address.');
      if (hash(email) !== key) return this.problem(reply, 400, 'Invalid Resource', 'The resource submitted could not be validated. For field-specific details, see the \'errors\' array.');
      const unknown = this.unknownMergeField(req.params.list, body.merge_fields);
      if (unknown) return this.problem(reply, 400, 'Invalid Resource', `Your merge fields were invalid: ${unknown}`);
      let target = member;
      if (!target) {
        const status = (body.status_if_new ?? body.status) as FakeMember['status'] | undefined;
        if (!status) return this.problem(reply, 400, 'Invalid Resource', 'The resource submitted could not be validated. For field-specific details, see the \'errors\' array.');
        this.seedMember({ email, status }, req.params.list);
        target = list.members.get(key)!;
      }
      this.writeMerge(target, body.merge_fields);
      return this.memberJson(target, req.params.list);
    });

    app.patch<P>('/3.0/lists/:list/members/:hash', async (req, reply) => {
      const { list, member } = find(req.params);
      if (!list || !member) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      const body = (req.body ?? {}) as { merge_fields?: Record<string, unknown> };
      const unknown = this.unknownMergeField(req.params.list, body.merge_fields);
      if (unknown) return this.problem(reply, 400, 'Invalid Resource', `Your merge fields were invalid: ${unknown}`);
      this.writeMerge(member, body.merge_fields);
      return this.memberJson(member, req.params.list);
    });

    // Add or remove member tags: 204, no body. Unknown names are created; inactive on an absent tag is a no-op.
    app.post<P>('/3.0/lists/:list/members/:hash/tags', async (req, reply) => {
      const { list, member } = find(req.params);
      if (!list || !member) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      const body = (req.body ?? {}) as { tags?: { name?: unknown; status?: unknown }[] };
      this.tagRequests.push(body);
      if (!Array.isArray(body.tags)) return this.problem(reply, 400, 'Invalid Resource', "Schema describes array, object found instead");
      for (const t of body.tags) {
        if (typeof t.name !== 'string' || !t.name.trim() || (t.status !== 'active' && t.status !== 'inactive')) {
          return this.problem(reply, 400, 'Invalid Resource', 'The resource submitted could not be validated.');
        }
      }
      for (const t of body.tags) this.tag(req.params.list, member, (t.name as string).trim(), t.status === 'active');
      member.lastChanged = stamp(this.now());
      return reply.code(204).send();
    });

    app.get<{ Params: { list: string } }>('/3.0/lists/:list/segments', async (req, reply) => {
      const list = this.list(req.params.list);
      if (!list) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      const q = new URL(req.url, 'http://x').searchParams;
      const type = q.get('type');
      const count = Math.min(1000, Number(q.get('count') ?? 10) || 10);
      const offset = Number(q.get('offset') ?? 0) || 0;
      const all = type && type !== 'static' ? [] : [...list.segments];
      const segments = all.slice(offset, offset + count).map(([id, name]) => ({
        id,
        name,
        member_count: [...list.members.values()].filter((m) => m.tags.some((t) => t.id === id)).length,
        type: 'static',
        created_at: stamp(this.now()),
        updated_at: stamp(this.now()),
        list_id: req.params.list,
      }));
      return { segments, list_id: req.params.list, total_items: all.length };
    });

    app.get<{ Params: { list: string } }>('/3.0/lists/:list/merge-fields', async (req, reply) => {
      const list = this.list(req.params.list);
      if (!list) return this.problem(reply, 404, 'Resource Not Found', 'The requested resource could not be found.');
      const q = new URL(req.url, 'http://x').searchParams;
      const count = Math.min(1000, Number(q.get('count') ?? 10) || 10);
      const offset = Number(q.get('offset') ?? 0) || 0;
      return {
        merge_fields: list.mergeFields.slice(offset, offset + count).map((f) => ({ ...f, required: false, default_value: '', public: true, display_order: f.merge_id + 1, list_id: req.params.list })),
        list_id: req.params.list,
        total_items: list.mergeFields.length,
      };
    });
  }

  private unknownMergeField(listId: string, merge: Record<string, unknown> | undefined): string | null {
    const known = new Set(this.list(listId)!.mergeFields.map((f) => f.tag));
    return Object.keys(merge ?? {}).find((tag) => !known.has(tag)) ?? null;
  }

  private writeMerge(member: FakeMember, merge: Record<string, unknown> | undefined): void {
    for (const [tag, value] of Object.entries(merge ?? {})) member.merge[tag] = value === null || value === undefined ? '' : String(value);
    member.lastChanged = stamp(this.now());
  }
}

export async function startFakeMailchimp(options?: FakeMailchimpOptions): Promise<FakeMailchimp> {
  return new FakeMailchimp(options).listen();
}
