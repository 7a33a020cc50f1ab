import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';

/**
 * A fake of the new MailerLite API (connect.mailerlite.com/api, developers.mailerlite.com): a
 * real HTTP server on 127.0.0.1, port 0, serving the documented shapes of every endpoint the
 * adapter uses — `{data}` envelopes, page-numbered `GET /groups` and `GET /fields` with `meta`,
 * `POST /batch` (≤ 50 sub-requests, answered in order with `{total, successful, failed,
 * responses: [{code, body}]}`). `Authorization: Bearer` is checked (401 `{"message":
 * "Unauthenticated."}`); errors are `{message}` (404 "Resource not found.", 422 adds `errors`).
 * Every answer carries `X-RateLimit-Limit` / `X-RateLimit-Remaining`; over the limit it answers
 * 429 `{"message":"Too Many Attempts."}` with `Retry-After` (seconds), as documented. A batch
 * counts as one request. Ids are 18-digit strings, as MailerLite's are (beyond a JS number's
 * exact range: an adapter that turns them into numbers breaks here).
 *
 * Not documented, chosen here: an unknown field key in `fields` is refused with 422; removing a
 * subscriber from a group it is not in answers 204.
 */
export interface FakeMailerLiteOptions {
  apiToken?: string;
  /** Requests per minute (a bucket of this size, refilled continuously). Default 120. */
  rateLimitPerMinute?: number;
}

interface Subscriber {
  id: string;
  email: string;
  fields: Record<string, string>;
  groups: Set<string>;
  createdAt: string;
  updatedAt: string;
}

interface Group {
  id: string;
  name: string;
  createdAt: string;
}

const NOW = () => new Date().toISOString().replace('T', ' ').slice(0, 19);
const FIELD_KEYS = ['name', 'last_name', 'company', 'country', 'city', 'phone', 'state', 'z_i_p'];

export class FakeMailerLite {
  readonly apiToken: string;
  calls = 0;
  rateLimited = 0;
  readonly callsByRoute = new Map<string, number>();
  /** Field keys the account has (the defaults of a new account, plus what tests add). */
  readonly fieldKeys = [...FIELD_KEYS];

  private readonly app: FastifyInstance;
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly groups = new Map<string, Group>();
  private nextId = 75009808379414225n;
  private readonly perMinute: number;
  private tokens: number;
  private refilledAt = Date.now();
  private forced: { count: number; retryAfter: number }[] = [];
  /** Marks the fake's own batch sub-requests (not counted, not rate limited). */
  private readonly internal = randomUUID();
  private baseUrl = '';

  constructor(options: FakeMailerLiteOptions = {}) {
    this.apiToken = options.apiToken ?? 'mlsk-test-token-0123456789abcdef0123456789';
    this.perMinute = options.rateLimitPerMinute ?? 120;
    this.tokens = this.perMinute;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** Like `https://connect.mailerlite.com/api`. */
  get url(): string {
    return `${this.baseUrl}/api`;
  }

  async listen(): Promise<this> {
    this.baseUrl = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  /** The next `count` requests get 429 with `Retry-After: retryAfterSeconds`. */
  forceRateLimit(retryAfterSeconds = 1, count = 1): void {
    this.forced.push({ count, retryAfter: retryAfterSeconds });
  }

  resetCounters(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.callsByRoute.clear();
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  seedGroup(name: string): string {
    const existing = [...this.groups.values()].find((g) => g.name === name);
    if (existing) return existing.id;
    const id = this.newId();
    this.groups.set(id, { id, name, createdAt: NOW() });
    return id;
  }

  seedSubscriber(s: { email: string; fields?: Record<string, string | null>; groups?: string[] }): string {
    const id = this.newId();
    const subscriber: Subscriber = { id, email: s.email.toLowerCase(), fields: {}, groups: new Set(), createdAt: NOW(), updatedAt: NOW() };
    for (const [k, v] of Object.entries(s.fields ?? {})) if (v !== null && v !== '') subscriber.fields[k] = v;
    for (const name of s.groups ?? []) subscriber.groups.add(this.seedGroup(name));
    this.subscribers.set(id, subscriber);
    return id;
  }

  subscriberState(id: string): { email: string; fields: Record<string, string>; groups: string[] } | null {
    const s = this.subscribers.get(id);
    if (!s) return null;
    return { email: s.email, fields: { ...s.fields }, groups: [...s.groups].map((g) => this.groups.get(g)!.name) };
  }

  groupNames(): string[] {
    return [...this.groups.values()].map((g) => g.name);
  }

  private newId(): string {
    this.nextId += 1n + BigInt(Math.floor(Math.random() * 1000));
    return String(this.nextId);
  }

  private find(ref: string): Subscriber | undefined {
    if (/^\d+$/.test(ref)) return this.subscribers.get(ref);
    const email = ref.toLowerCase();
    return [...this.subscribers.values()].find((s) => s.email === email);
  }

  private groupJson(g: Group) {
    const members = [...this.subscribers.values()].filter((s) => s.groups.has(g.id)).length;
    return {
      id: g.id,
      name: g.name,
      active_count: members,
      sent_count: 0,
      opens_count: 0,
      open_rate: { float: 0, string: '0%' },
      clicks_count: 0,
      click_rate: { float: 0, string: '0%' },
      unsubscribed_count: 0,
      unconfirmed_count: 0,
      bounced_count: 0,
      junk_count: 0,
      created_at: g.createdAt,
    };
  }

  private subscriberJson(s: Subscriber) {
    return {
      id: s.id,
      email: s.email,
      status: 'active',
      source: 'api',
      sent: 0,
      opens_count: 0,
      clicks_count: 0,
      open_rate: 0,
      click_rate: 0,
      ip_address: null,
      subscribed_at: s.createdAt,
      unsubscribed_at: null,
      created_at: s.createdAt,
      updated_at: s.updatedAt,
      fields: Object.fromEntries(this.fieldKeys.map((k) => [k, s.fields[k] ?? null])),
      groups: [...s.groups].map((id) => this.groupJson(this.groups.get(id)!)),
      opted_in_at: null,
      optin_ip: null,
    };
  }

  /** A page-numbered list as the groups/fields endpoints answer it. */
  private page<T>(path: string, all: T[], query: URLSearchParams) {
    const limit = Math.max(1, Math.min(1000, Number(query.get('limit') ?? 100) || 100));
    const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
    const lastPage = Math.max(1, Math.ceil(all.length / limit));
    const link = (p: number) => `https://connect.mailerlite.com/api/${path}?page=${p}`;
    const data = all.slice((page - 1) * limit, page * limit);
    return {
      data,
      links: { first: link(1), last: link(lastPage), prev: page > 1 ? link(page - 1) : null, next: page < lastPage ? link(page + 1) : null },
      meta: { current_page: page, from: data.length ? (page - 1) * limit + 1 : null, last_page: lastPage, path: `https://connect.mailerlite.com/api/${path}`, per_page: limit, to: data.length ? (page - 1) * limit + data.length : null, total: all.length },
    };
  }

  private admit(): { ok: true; remaining: number } | { ok: false; retryAfter: number } {
    const forced = this.forced[0];
    if (forced) {
      if (--forced.count <= 0) this.forced.shift();
      return { ok: false, retryAfter: forced.retryAfter };
    }
    const now = Date.now();
    this.tokens = Math.min(this.perMinute, this.tokens + ((now - this.refilledAt) * this.perMinute) / 60_000);
    this.refilledAt = now;
    if (this.tokens < 1) return { ok: false, retryAfter: Math.ceil(((1 - this.tokens) * 60) / this.perMinute) };
    this.tokens -= 1;
    return { ok: true, remaining: Math.floor(this.tokens) };
  }

  private routes(): void {
    const app = this.app;
    // MailerLite takes `Content-Type: application/json` with an empty body (assign a group: a
    // POST without a body, as recorded), which Fastify's own JSON parser refuses.
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      if (!body) return done(null, undefined);
      try {
        done(null, JSON.parse(String(body)));
      } catch {
        done(Object.assign(new Error('The body is not valid JSON.'), { statusCode: 400 }), undefined);
      }
    });
    app.addHook('onRequest', async (req, reply) => {
      if (req.headers['x-fake-batch'] !== this.internal) {
        this.calls++;
        const route = `${req.method} ${req.routeOptions.url ?? req.url}`;
        this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
        const admitted = this.admit();
        reply.header('x-ratelimit-limit', String(this.perMinute));
        if (!admitted.ok) {
          this.rateLimited++;
          reply.header('x-ratelimit-remaining', '0').header('retry-after', String(admitted.retryAfter));
          return reply.code(429).send({ message: 'Too Many Attempts.' });
        }
        reply.header('x-ratelimit-remaining', String(admitted.remaining));
      }
      if (req.headers.authorization !== `Bearer ${this.apiToken}`) return reply.code(401).send({ message: 'Unauthenticated.' });
    });

    app.setNotFoundHandler((_req, reply) => notFound(reply));

    app.get<{ Params: { ref: string } }>('/api/subscribers/:ref', async (req, reply) => {
      const s = this.find(req.params.ref);
      return s ? { data: this.subscriberJson(s) } : notFound(reply);
    });

    app.post('/api/subscribers', async (req, reply) => {
      const body = (req.body ?? {}) as { email?: unknown; fields?: Record<string, unknown>; groups?: unknown };
      const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return invalid(reply, { email: ['The email must be a valid email address.'] });
      const error = this.checkFields(body.fields);
      if (error) return invalid(reply, error);
      const groups = Array.isArray(body.groups) ? body.groups.map(String) : [];
      const unknown = groups.find((g) => !this.groups.has(g));
      if (unknown) return invalid(reply, { 'groups.0': ['The selected groups.0 is invalid.'] });
      const existing = this.find(email);
      const s = existing ?? this.subscribers.get(this.seedSubscriber({ email }))!;
      this.write(s, body.fields);
      for (const g of groups) s.groups.add(g);
      return reply.code(existing ? 200 : 201).send({ data: this.subscriberJson(s) });
    });

    app.put<{ Params: { id: string } }>('/api/subscribers/:id', async (req, reply) => {
      const s = this.subscribers.get(req.params.id);
      if (!s) return notFound(reply);
      const body = (req.body ?? {}) as { fields?: Record<string, unknown> };
      const error = this.checkFields(body.fields);
      if (error) return invalid(reply, error);
      this.write(s, body.fields);
      return { data: this.subscriberJson(s) };
    });

    app.post<{ Params: { id: string; group: string } }>('/api/subscribers/:id/groups/:group', async (req, reply) => {
      const s = this.subscribers.get(req.params.id);
      const g = this.groups.get(req.params.group);
      if (!s || !g) return notFound(reply);
      s.groups.add(g.id);
      return { data: this.groupJson(g) };
    });

    app.delete<{ Params: { id: string; group: string } }>('/api/subscribers/:id/groups/:group', async (req, reply) => {
      const s = this.subscribers.get(req.params.id);
      const g = this.groups.get(req.params.group);
      if (!s || !g) return notFound(reply);
      s.groups.delete(g.id);
      return reply.code(204).send();
    });

    app.get('/api/groups', async (req) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const filter = q.get('filter[name]')?.toLowerCase();
      const all = [...this.groups.values()].filter((g) => !filter || g.name.toLowerCase().includes(filter));
      return this.page('groups', all.map((g) => this.groupJson(g)), q);
    });

    app.post('/api/groups', async (req, reply) => {
      const name = (req.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name.trim()) return invalid(reply, { name: ['The name field is required.'] });
      if (name.trim().length > 255) return invalid(reply, { name: ['The name may not be greater than 255 characters.'] });
      if ([...this.groups.values()].some((g) => g.name.toLowerCase() === name.trim().toLowerCase())) return invalid(reply, { name: ['The name has already been taken.'] });
      return reply.code(201).send({ data: this.groupJson(this.groups.get(this.seedGroup(name.trim()))!) });
    });

    app.get('/api/fields', async (req) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const all = this.fieldKeys.map((key, i) => ({ id: String(i + 1), name: key === 'name' ? 'Name' : key === 'z_i_p' ? 'ZIP' : key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()), key, type: 'text' }));
      return this.page('fields', all, q);
    });

    app.post('/api/batch', async (req, reply) => {
      const requests = (req.body as { requests?: unknown } | null)?.requests;
      if (!Array.isArray(requests) || requests.length === 0) return invalid(reply, { requests: ['The requests field is required.'] });
      if (requests.length > 50) return invalid(reply, { requests: ['The requests may not have more than 50 items.'] });
      const errors: Record<string, string[]> = {};
      requests.forEach((r: { method?: unknown; path?: unknown }, i) => {
        if (!['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].includes(String(r?.method))) errors[`requests.${i}.method`] = [`The requests.${i}.method field is invalid.`];
        if (typeof r?.path !== 'string' || !r.path.startsWith('api/')) errors[`requests.${i}.path`] = [`The requests.${i}.path must start with api/.`];
      });
      if (Object.keys(errors).length) return invalid(reply, errors);
      const responses: { code: number; body: unknown }[] = [];
      for (const r of requests as { method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'; path: string; body?: unknown }[]) {
        const res = await app.inject({
          method: r.method,
          url: `/${r.path}`,
          headers: { authorization: String(req.headers.authorization), 'x-fake-batch': this.internal, ...(r.body !== undefined && { 'content-type': 'application/json' }) },
          payload: r.body === undefined ? undefined : JSON.stringify(r.body),
        });
        responses.push({ code: res.statusCode, body: res.body ? (JSON.parse(res.body) as unknown) : null });
      }
      const successful = responses.filter((r) => r.code < 400).length;
      return { total: responses.length, successful, failed: responses.length - successful, responses };
    });
  }

  private checkFields(fields: Record<string, unknown> | undefined): Record<string, string[]> | null {
    if (fields === undefined) return null;
    if (!fields || typeof fields !== 'object' || Array.isArray(fields)) return { fields: ['The fields must be an object.'] };
    for (const [key, value] of Object.entries(fields)) {
      if (!this.fieldKeys.includes(key)) return { [`fields.${key}`]: [`The field ${key} does not exist.`] };
      if (value !== null && typeof value !== 'string' && typeof value !== 'number') return { [`fields.${key}`]: [`The fields.${key} must be a string.`] };
    }
    return null;
  }

  private write(s: Subscriber, fields: Record<string, unknown> | undefined): void {
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (v === null || v === '') delete s.fields[k];
      else s.fields[k] = String(v);
    }
    s.updatedAt = NOW();
  }
}

function notFound(reply: FastifyReply) {
  return reply.code(404).send({ message: 'Resource not found.' });
}

function invalid(reply: FastifyReply, errors: Record<string, string[]>) {
  return reply.code(422).send({ message: 'The given data was invalid.', errors });
}

export async function startFakeMailerLite(options?: FakeMailerLiteOptions): Promise<FakeMailerLite> {
  return new FakeMailerLite(options).listen();
}
