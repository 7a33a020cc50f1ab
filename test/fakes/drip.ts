import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake Drip REST API v2: a real HTTP server on 127.0.0.1 (port 0) speaking the documented shapes
 * of every endpoint the adapter uses (developer.drip.com; Slate source DripEmail/api-docs):
 * `/v2/:account_id/subscribers[/:id_or_email[/tags/:tag]]`, `/tags`, `/custom_field_identifiers`.
 * HTTP Basic with the API token as user name is checked (401 when missing or wrong, 403 for
 * another account), errors use the documented `{errors:[{code, message}]}` body, and the
 * documented "3,600 individual requests per hour" is enforced with the documented 429 body
 * (`{"message":"API rate limit exceeded. Please try again in an hour.", …}`, no Retry-After) and
 * `X-RateLimit-Limit` / `X-RateLimit-Remaining` headers.
 *
 * Tests seed and read state directly (no HTTP, no rate limit) and read call counters.
 */
export interface FakeDripOptions {
  apiToken?: string;
  accountId?: string;
  /** Requests allowed per hour (a bucket of this size refilled evenly). Default 3600, as documented. */
  rateLimitPerHour?: number;
}

export interface FakeSubscriber {
  id: string;
  status: 'active' | 'unsubscribed';
  email: string;
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  custom_fields: Record<string, string>;
  tags: string[];
  created_at: string;
}

export interface SeedSubscriber {
  email: string;
  first_name?: string | null;
  last_name?: string | null;
  phone?: string | null;
  custom_fields?: Record<string, string>;
  tags?: string[];
}

const STANDARD = ['first_name', 'last_name', 'phone', 'address1', 'address2', 'city', 'state', 'zip', 'country', 'sms_number', 'time_zone', 'user_id'];
const NOT_FOUND = { errors: [{ code: 'not_found_error', message: 'The resource you requested was not found' }] };
const RATE_LIMITED = { message: 'API rate limit exceeded. Please try again in an hour.', documentation: 'https://www.getdrip.com/docs/rest-api#rate-limting' };
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export class FakeDrip {
  readonly apiToken: string;
  readonly accountId: string;
  calls = 0;
  rateLimited = 0;
  /** `"GET /v2/:accountId/subscribers/:idOrEmail"` → count. */
  readonly callsByRoute = new Map<string, number>();
  /** The bodies of `POST /subscribers`, in order (to check what the adapter sends). */
  readonly subscriberWrites: unknown[] = [];

  private readonly app: FastifyInstance;
  private readonly subscribers = new Map<string, FakeSubscriber & Record<string, unknown>>();
  private readonly accountTags = new Set<string>();
  private readonly customFields = new Set<string>();
  private nextId = 1;
  private perHour: number;
  private tokens: number;
  private refilledAt = Date.now();
  private forced = 0;
  private baseUrl = '';

  constructor(options: FakeDripOptions = {}) {
    this.apiToken = options.apiToken ?? 'test-drip-token';
    this.accountId = options.accountId ?? '9999999';
    this.perHour = options.rateLimitPerHour ?? 3600;
    this.tokens = this.perHour;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** The API root, `http://127.0.0.1:PORT` (the adapter's URL is `${url}/v2/${accountId}`). */
  get url(): string {
    return this.baseUrl;
  }

  /** What goes in CRMSYNC_CRM_URL. */
  get accountUrl(): string {
    return `${this.baseUrl}/v2/${this.accountId}`;
  }

  async listen(): Promise<this> {
    this.baseUrl = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  /** The next `count` requests are answered with the documented 429 (no Retry-After). */
  forceRateLimit(count = 1): void {
    this.forced += count;
  }

  setRateLimit(perHour: number): void {
    this.perHour = perHour;
    this.tokens = Math.min(this.tokens, perHour);
  }

  resetCounters(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.callsByRoute.clear();
    this.subscriberWrites.length = 0;
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  // ---- state helpers (no HTTP) ----

  seedCustomField(identifier: string): void {
    this.customFields.add(identifier);
  }

  seedSubscriber(seed: SeedSubscriber): string {
    const s = this.create(seed.email);
    s.first_name = seed.first_name ?? null;
    s.last_name = seed.last_name ?? null;
    s.phone = seed.phone ?? null;
    for (const [k, v] of Object.entries(seed.custom_fields ?? {})) this.setCustom(s, k, v);
    for (const tag of seed.tags ?? []) this.tag(s, tag);
    return s.id;
  }

  /** As a Drip user would: apply a tag in the UI. */
  tagSubscriber(id: string, tag: string): void {
    this.tag(this.subscribers.get(id)!, tag);
  }

  subscriber(id: string): FakeSubscriber | null {
    const s = this.subscribers.get(id);
    return s ? structuredClone(s) : null;
  }

  subscriberIdsByEmail(email: string): string[] {
    return [...this.subscribers.values()].filter((s) => s.email.toLowerCase() === email.toLowerCase()).map((s) => s.id);
  }

  // ---- internals ----

  private create(email: string): FakeSubscriber & Record<string, unknown> {
    // Opaque lower-case ids like the documented `z1togz2hcjrkpp5treip`.
    const id = `z${(this.nextId++).toString(36).padStart(6, '0')}${Math.random().toString(36).slice(2, 8)}`;
    const s = { id, status: 'active' as const, email, first_name: null, last_name: null, phone: null, custom_fields: {}, tags: [], created_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
    this.subscribers.set(id, s);
    return s;
  }

  private find(idOrEmail: string) {
    return this.subscribers.get(idOrEmail) ?? [...this.subscribers.values()].find((s) => s.email.toLowerCase() === idOrEmail.toLowerCase());
  }

  private tag(s: FakeSubscriber, tag: string): void {
    const name = tag.trim();
    const known = [...this.accountTags].find((t) => t.toLowerCase() === name.toLowerCase()) ?? name;
    this.accountTags.add(known);
    if (!s.tags.some((t) => t.toLowerCase() === known.toLowerCase())) s.tags.push(known);
  }

  private setCustom(s: FakeSubscriber, key: string, value: unknown): void {
    this.customFields.add(key);
    s.custom_fields[key] = value === null || value === undefined ? '' : String(value);
  }

  private json(s: FakeSubscriber & Record<string, unknown>) {
    const out: Record<string, unknown> = {
      id: s.id,
      status: s.status,
      email: s.email,
      eu_consent: 'unknown',
      time_zone: 'Etc/UTC',
      utc_offset: 0,
      visitor_uuid: null,
      custom_fields: { ...s.custom_fields },
      tags: [...s.tags],
      ip_address: null,
      user_agent: null,
      original_referrer: null,
      landing_url: null,
      prospect: true,
      lead_score: null,
      lifetime_value: 0,
      created_at: s.created_at,
      href: `${this.baseUrl}/v2/${this.accountId}/subscribers/${s.id}`,
      user_id: null,
      base_lead_score: 30,
      links: { account: this.accountId },
    };
    for (const key of STANDARD) out[key] = s[key] ?? null;
    return out;
  }

  private list(s: FakeSubscriber & Record<string, unknown>) {
    return { links: { 'subscribers.account': 'https://api.getdrip.com/v2/accounts/{subscribers.account}' }, subscribers: [this.json(s)] };
  }

  private admit(): { ok: boolean; remaining: number } {
    if (this.forced > 0) {
      this.forced--;
      return { ok: false, remaining: 0 };
    }
    const now = Date.now();
    this.tokens = Math.min(this.perHour, this.tokens + ((now - this.refilledAt) / 3_600_000) * this.perHour);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, remaining: 0 };
  }

  private routes(): void {
    const app = this.app;
    const prefix = '/v2/:accountId';

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      const auth = req.headers.authorization ?? '';
      const expected = `Basic ${Buffer.from(`${this.apiToken}:`).toString('base64')}`;
      if (auth !== expected) {
        return reply.code(401).send({ errors: [{ code: 'authentication_error', message: 'You must be authenticated to access this resource' }] });
      }
      const admitted = this.admit();
      reply.header('X-RateLimit-Limit', String(this.perHour)).header('X-RateLimit-Remaining', String(admitted.remaining));
      if (!admitted.ok) {
        this.rateLimited++;
        return reply.code(429).send(RATE_LIMITED);
      }
      const account = (req.params as { accountId?: string } | undefined)?.accountId;
      if (account !== undefined && account !== this.accountId) {
        return reply.code(403).send({ errors: [{ code: 'authorization_error', message: 'You are not authorized to access this resource' }] });
      }
    });

    app.setNotFoundHandler((_req, reply) => reply.code(404).send(NOT_FOUND));

    // List subscribers: status (active by default; all), tags (comma-separated, all of them), page, per_page ≤ 1000.
    app.get(`${prefix}/subscribers`, async (req, reply) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const perPage = Number(q.get('per_page') ?? 100);
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000) return reply.code(422).send({ errors: [{ code: 'range_error', attribute: 'per_page', message: 'Per page must be between 1 and 1000' }] });
      const page = Number(q.get('page') ?? 1) || 1;
      const status = q.get('status') ?? 'active';
      const tags = (q.get('tags') ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
      let list = [...this.subscribers.values()];
      if (status !== 'all') list = list.filter((s) => s.status === status);
      if (tags.length) list = list.filter((s) => tags.every((t) => s.tags.some((x) => x.toLowerCase() === t)));
      const totalPages = Math.max(1, Math.ceil(list.length / perPage));
      return {
        links: { 'subscribers.account': 'https://api.getdrip.com/v2/accounts/{subscribers.account}' },
        meta: { page, count: Math.min(perPage, Math.max(0, list.length - (page - 1) * perPage)), total_pages: totalPages, total_count: list.length },
        subscribers: list.slice((page - 1) * perPage, page * perPage).map((s) => this.json(s as FakeSubscriber & Record<string, unknown>)),
      };
    });

    app.get<{ Params: { idOrEmail: string } }>(`${prefix}/subscribers/:idOrEmail`, async (req, reply) => {
      const s = this.find(req.params.idOrEmail);
      if (!s) return reply.code(404).send(NOT_FOUND);
      return this.list(s);
    });

    // Create or update a subscriber: identified by `email` or `id`; unknown email → created.
    app.post(`${prefix}/subscribers`, async (req, reply) => {
      this.subscriberWrites.push(req.body);
      const input = (req.body as { subscribers?: Record<string, unknown>[] } | null)?.subscribers?.[0];
      if (!input) return reply.code(422).send({ errors: [{ code: 'presence_error', attribute: 'subscribers', message: 'Subscribers is required' }] });
      const email = typeof input.email === 'string' ? input.email.trim() : undefined;
      const id = typeof input.id === 'string' ? input.id : undefined;
      if (!email && !id) return reply.code(422).send({ errors: [{ code: 'presence_error', attribute: 'email', message: 'Email is required' }] });
      if (email !== undefined && !EMAIL.test(email)) return reply.code(422).send({ errors: [{ code: 'email_error', attribute: 'email', message: 'Email is invalid' }] });
      let s = id ? this.subscribers.get(id) : email ? this.find(email) : undefined;
      if (!s && id) return reply.code(404).send(NOT_FOUND);
      s ??= this.create(email!);
      if (typeof input.new_email === 'string' && input.new_email) s.email = input.new_email;
      for (const key of STANDARD) if (input[key] !== undefined) s[key] = input[key] === null ? null : String(input[key]);
      const custom = input.custom_fields;
      if (custom && typeof custom === 'object') for (const [k, v] of Object.entries(custom)) this.setCustom(s, k, v);
      for (const tag of Array.isArray(input.tags) ? input.tags : []) this.tag(s, String(tag));
      for (const tag of Array.isArray(input.remove_tags) ? input.remove_tags : []) s.tags = s.tags.filter((t) => t.toLowerCase() !== String(tag).toLowerCase());
      return this.list(s);
    });

    // Apply a tag to a subscriber (by e-mail): 201 and `{}`.
    app.post(`${prefix}/tags`, async (req, reply) => {
      const entries = (req.body as { tags?: { email?: unknown; tag?: unknown }[] } | null)?.tags;
      if (!Array.isArray(entries) || entries.length === 0) return reply.code(422).send({ errors: [{ code: 'presence_error', attribute: 'tags', message: 'Tags is required' }] });
      for (const entry of entries) {
        if (typeof entry.tag !== 'string' || !entry.tag.trim()) return reply.code(422).send({ errors: [{ code: 'presence_error', attribute: 'tag', message: 'Tag is required' }] });
        if (typeof entry.email !== 'string' || !EMAIL.test(entry.email)) return reply.code(422).send({ errors: [{ code: 'email_error', attribute: 'email', message: 'Email is invalid' }] });
      }
      for (const entry of entries) {
        const s = this.find(String(entry.email));
        if (!s) return reply.code(404).send(NOT_FOUND);
        this.tag(s, String(entry.tag));
      }
      return reply.code(201).send({});
    });

    // Remove a tag from a subscriber: 204.
    app.delete<{ Params: { idOrEmail: string; tag: string } }>(`${prefix}/subscribers/:idOrEmail/tags/:tag`, async (req, reply) => {
      const s = this.find(req.params.idOrEmail);
      if (!s) return reply.code(404).send(NOT_FOUND);
      s.tags = s.tags.filter((t) => t.toLowerCase() !== req.params.tag.toLowerCase());
      return reply.code(204).send();
    });

    app.get(`${prefix}/tags`, async () => ({ tags: [...this.accountTags] }));

    app.get(`${prefix}/custom_field_identifiers`, async () => ({ custom_field_identifiers: [...this.customFields] }));
  }
}

export async function startFakeDrip(options?: FakeDripOptions): Promise<FakeDrip> {
  return new FakeDrip(options).listen();
}
