import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake Kit API v4 (developers.kit.com/api-reference): a real HTTP server on 127.0.0.1 (port 0)
 * speaking the documented shapes of the endpoints the adapter uses. `X-Kit-Api-Key` is checked
 * (401 `{"errors":["The access token is invalid"]}`); errors are `{"errors": [...]}`; lists use
 * cursor pagination (`per_page`, `after`, `pagination.end_cursor`); the documented "120 requests
 * in 60 seconds" per API key answers 429 with the plain text `Retry later` and no Retry-After.
 *
 * Tests seed and read state directly (no HTTP, no limit) and read call counters.
 */
export interface FakeKitOptions {
  apiKey?: string;
  /** Requests allowed per window (default 120, as documented). */
  rateLimit?: number;
  /** The window in ms (default 60 000). */
  windowMs?: number;
  latencyMs?: number;
  /** Apply `fields` of an existing subscriber on `POST /v4/subscribers` (default false: only first_name, as documented). */
  upsertUpdatesFields?: boolean;
  /** The time subscribers are stamped with (created_at, updated_at; a test's controllable clock). Default Date.now. */
  now?: () => number;
}

export interface FakeSubscriber {
  id: number;
  first_name: string | null;
  email_address: string;
  state: 'active' | 'cancelled' | 'bounced' | 'complained' | 'inactive';
  created_at: string;
  /** What `updated_after` filters on; moved by field writes and (an assumption, see the adapter's README) tagging. */
  updated_at: string;
  fields: Record<string, string | null>;
  /** Tag id → tagged_at. */
  tags: Map<number, string>;
}

export interface SeedSubscriber {
  email: string;
  first_name?: string | null;
  state?: FakeSubscriber['state'];
  fields?: Record<string, string | null>;
  tags?: string[];
}

const kitDate = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const cursor = (offset: number) => Buffer.from(JSON.stringify([offset])).toString('base64');
const offsetOf = (value: string | null) => {
  if (!value) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as unknown;
    return Array.isArray(parsed) && typeof parsed[0] === 'number' ? parsed[0] : 0;
  } catch {
    return 0;
  }
};

export class FakeKit {
  readonly apiKey: string;
  calls = 0;
  rateLimited = 0;
  readonly callsByRoute = new Map<string, number>();

  private readonly app: FastifyInstance;
  private readonly subscribers = new Map<number, FakeSubscriber>();
  private readonly tags = new Map<number, { id: number; name: string; created_at: string }>();
  private readonly customFields: { id: number; name: string; key: string; label: string }[] = [];
  private nextId = { subscriber: 1000, tag: 10, field: 1 };
  private limit: number;
  private readonly windowMs: number;
  private window: number[] = [];
  private forced = 0;
  private failures: { count: number; status: number }[] = [];
  private latencyMs: number;
  private readonly upsertUpdatesFields: boolean;
  private readonly clock: () => number;
  private baseUrl = '';

  constructor(options: FakeKitOptions = {}) {
    this.apiKey = options.apiKey ?? 'kit_test_api_key';
    this.limit = options.rateLimit ?? 120;
    this.windowMs = options.windowMs ?? 60_000;
    this.latencyMs = options.latencyMs ?? 0;
    this.upsertUpdatesFields = options.upsertUpdatesFields ?? false;
    this.clock = options.now ?? Date.now;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** `https://api.kit.com` (without `/v4`). */
  get url(): string {
    return this.baseUrl;
  }

  async listen(): Promise<this> {
    this.baseUrl = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  setRateLimit(limit: number): void {
    this.limit = limit;
  }

  /** The next `count` requests are refused with 429 `Retry later`. */
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
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  // ---- state helpers for tests (no HTTP) ----

  seedCustomField(label: string, key = label.trim().toLowerCase().replace(/\W+/g, '_')): string {
    if (!this.customFields.some((f) => f.key === key)) {
      const id = this.nextId.field++;
      this.customFields.push({ id, name: `ck_field_${id}_${key}`, key, label });
    }
    return key;
  }

  seedTag(name: string): number {
    const existing = [...this.tags.values()].find((t) => t.name.toLowerCase() === name.trim().toLowerCase());
    if (existing) return existing.id;
    const id = this.nextId.tag++;
    this.tags.set(id, { id, name: name.trim(), created_at: this.iso() });
    return id;
  }

  seedSubscriber(seed: SeedSubscriber): string {
    const existing = this.byEmail(seed.email);
    const s: FakeSubscriber = existing ?? { id: this.nextId.subscriber++, first_name: null, email_address: seed.email.trim(), state: seed.state ?? 'active', created_at: this.iso(), updated_at: this.iso(), fields: this.emptyFields(), tags: new Map() };
    if (seed.first_name !== undefined) s.first_name = seed.first_name;
    for (const [key, value] of Object.entries(seed.fields ?? {})) {
      if (!this.customFields.some((f) => f.key === key)) throw new Error(`no custom field ${key}`);
      s.fields[key] = value;
    }
    for (const name of seed.tags ?? []) s.tags.set(this.seedTag(name), this.iso());
    this.subscribers.set(s.id, s);
    return String(s.id);
  }

  subscriber(id: string): (FakeSubscriber & { tagNames: string[] }) | null {
    const s = this.subscribers.get(Number(id));
    return s ? { ...s, tagNames: [...s.tags.keys()].map((t) => this.tags.get(t)!.name) } : null;
  }

  tagSubscriber(id: string, name: string): void {
    const s = this.subscribers.get(Number(id))!;
    s.tags.set(this.seedTag(name), this.iso());
    s.updated_at = this.iso();
  }

  private iso(): string {
    return kitDate(this.clock());
  }

  deleteTag(name: string): void {
    const id = this.seedTag(name);
    this.tags.delete(id);
    for (const s of this.subscribers.values()) s.tags.delete(id);
  }

  private byEmail(email: string) {
    return [...this.subscribers.values()].find((s) => s.email_address.toLowerCase() === email.trim().toLowerCase());
  }

  private emptyFields(): Record<string, string | null> {
    return Object.fromEntries(this.customFields.map((f) => [f.key, null]));
  }

  private json(s: FakeSubscriber, extra: Record<string, unknown> = {}) {
    const fields = { ...this.emptyFields(), ...s.fields };
    return { id: s.id, first_name: s.first_name, email_address: s.email_address, state: s.state, created_at: s.created_at, fields, ...extra };
  }

  private page<T>(items: T[], req: FastifyRequest) {
    const q = new URL(req.url, 'http://x').searchParams;
    const perPage = Math.min(1000, Number(q.get('per_page') ?? 500) || 500);
    const offset = offsetOf(q.get('after'));
    const slice = items.slice(offset, offset + perPage);
    return {
      items: slice,
      pagination: {
        has_previous_page: offset > 0,
        has_next_page: offset + perPage < items.length,
        start_cursor: cursor(offset),
        end_cursor: cursor(offset + slice.length),
        per_page: perPage,
      },
    };
  }

  /** Writes `fields`; returns the unknown keys. */
  private writeFields(s: FakeSubscriber, fields: unknown): string[] {
    s.updated_at = this.iso();
    const unknown: string[] = [];
    for (const [key, value] of Object.entries((fields ?? {}) as Record<string, unknown>)) {
      if (!this.customFields.some((f) => f.key === key)) unknown.push(key);
      else s.fields[key] = value === null || value === undefined || value === '' ? null : String(value);
    }
    return unknown;
  }

  private admit(): boolean {
    if (this.forced > 0) {
      this.forced--;
      return false;
    }
    const t = Date.now();
    this.window = this.window.filter((at) => t - at < this.windowMs);
    if (this.window.length >= this.limit) return false;
    this.window.push(t);
    return true;
  }

  private routes(): void {
    const app = this.app;
    const notFound = (reply: FastifyReply) => reply.code(404).send({ errors: ['Not Found'] });

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (!this.admit()) {
        this.rateLimited++;
        return reply.code(429).type('text/plain').send('Retry later');
      }
      const failure = this.failures[0];
      if (failure) {
        if (--failure.count <= 0) this.failures.shift();
        return reply.code(failure.status).send({ errors: ['Internal server error'] });
      }
      if (req.headers['x-kit-api-key'] !== this.apiKey) return reply.code(401).send({ errors: ['The access token is invalid'] });
    });

    app.setNotFoundHandler((_req, reply) => notFound(reply));

    app.get('/v4/subscribers', async (req, reply) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const emails = (q.get('email_address') ?? '').split(',').map((e) => e.trim().toLowerCase()).filter(Boolean);
      const status = q.get('status') ?? 'active';
      const include = (q.get('include') ?? '').split(',').map((s) => s.trim());
      let list = [...this.subscribers.values()];
      if (emails.length > 0) list = list.filter((s) => emails.includes(s.email_address.toLowerCase()));
      if (status !== 'all') list = list.filter((s) => s.state === status);
      const updatedAfter = q.get('updated_after');
      if (updatedAfter !== null) {
        const at = Date.parse(updatedAfter);
        if (Number.isNaN(at)) return reply.code(422).send({ errors: ['updated_after is not a date'] });
        list = list.filter((s) => Date.parse(s.updated_at) >= at);
      }
      const { items, pagination } = this.page(list, req);
      const subscribers = items.map((s) => this.json(s, include.includes('tags') ? { tags: [...s.tags.keys()].map((id) => ({ id, name: this.tags.get(id)!.name })) } : {}));
      return { subscribers, pagination };
    });

    app.post('/v4/subscribers', async (req, reply) => {
      const body = (req.body ?? {}) as { email_address?: unknown; first_name?: unknown; state?: unknown; fields?: unknown };
      const email = typeof body.email_address === 'string' ? body.email_address.trim() : '';
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return reply.code(422).send({ errors: ['Email address is invalid'] });
      const existing = this.byEmail(email);
      if (existing) {
        if (body.first_name !== undefined) existing.first_name = body.first_name === null || body.first_name === '' ? null : String(body.first_name);
        const warnings = this.upsertUpdatesFields ? this.writeFields(existing, body.fields) : [];
        return reply.code(200).send({ subscriber: this.json(existing), ...(warnings.length ? { warnings } : {}) });
      }
      const id = this.seedSubscriber({ email, state: (body.state as FakeSubscriber['state']) ?? 'active', first_name: typeof body.first_name === 'string' && body.first_name ? body.first_name : null });
      const s = this.subscribers.get(Number(id))!;
      const unknown = this.writeFields(s, body.fields);
      return reply.code(201).send({ subscriber: this.json(s), ...(unknown.length ? { warnings: unknown.map((k) => `Custom field '${k}' does not exist`) } : {}) });
    });

    app.get<{ Params: { id: string } }>('/v4/subscribers/:id', async (req, reply) => {
      const s = this.subscribers.get(Number(req.params.id));
      if (!s) return notFound(reply);
      return { subscriber: this.json(s, { canceled_at: null }) };
    });

    app.put<{ Params: { id: string } }>('/v4/subscribers/:id', async (req, reply) => {
      const s = this.subscribers.get(Number(req.params.id));
      if (!s) return notFound(reply);
      const body = (req.body ?? {}) as { email_address?: unknown; first_name?: unknown; fields?: unknown };
      if (typeof body.email_address !== 'string' || !body.email_address.trim()) return reply.code(422).send({ errors: ["Email address can't be blank"] });
      const other = this.byEmail(body.email_address);
      if (other && other.id !== s.id) return reply.code(422).send({ errors: ['Email address has already been taken'] });
      const unknown = Object.keys((body.fields ?? {}) as object).filter((k) => !this.customFields.some((f) => f.key === k));
      if (unknown.length > 0) return reply.code(422).send({ errors: unknown.map((k) => `Custom field '${k}' does not exist`) });
      s.email_address = body.email_address.trim();
      if (body.first_name !== undefined) s.first_name = body.first_name === null || body.first_name === '' ? null : String(body.first_name);
      this.writeFields(s, body.fields);
      return { subscriber: this.json(s) };
    });

    app.get<{ Params: { id: string } }>('/v4/subscribers/:id/tags', async (req, reply) => {
      const s = this.subscribers.get(Number(req.params.id));
      if (!s) return notFound(reply);
      const all = [...s.tags].map(([id, taggedAt]) => ({ id, name: this.tags.get(id)!.name, tagged_at: taggedAt }));
      const { items, pagination } = this.page(all, req);
      return { tags: items, pagination };
    });

    app.get('/v4/tags', async (req) => {
      const all = [...this.tags.values()].map((t) => ({ ...t, subscriber_count: [...this.subscribers.values()].filter((s) => s.tags.has(t.id)).length }));
      const { items, pagination } = this.page(all, req);
      return { tags: items, pagination };
    });

    app.post('/v4/tags', async (req, reply) => {
      const name = typeof (req.body as { name?: unknown } | null)?.name === 'string' ? ((req.body as { name: string }).name).trim() : '';
      if (!name) return reply.code(422).send({ errors: ["Name can't be blank"] });
      const existing = [...this.tags.values()].find((t) => t.name.toLowerCase() === name.toLowerCase());
      if (existing) return reply.code(200).send({ tag: existing });
      return reply.code(201).send({ tag: this.tags.get(this.seedTag(name)) });
    });

    app.post<{ Params: { tag: string; id: string } }>('/v4/tags/:tag/subscribers/:id', async (req, reply) => {
      const tag = this.tags.get(Number(req.params.tag));
      const s = this.subscribers.get(Number(req.params.id));
      if (!tag || !s) return notFound(reply);
      const had = s.tags.has(tag.id);
      if (!had) {
        s.tags.set(tag.id, this.iso());
        s.updated_at = this.iso();
      }
      return reply.code(had ? 200 : 201).send({ subscriber: this.json(s, { tagged_at: s.tags.get(tag.id) }) });
    });

    app.delete<{ Params: { tag: string; id: string } }>('/v4/tags/:tag/subscribers/:id', async (req, reply) => {
      const tag = this.tags.get(Number(req.params.tag));
      const s = this.subscribers.get(Number(req.params.id));
      if (!tag || !s) return notFound(reply);
      if (s.tags.delete(tag.id)) s.updated_at = this.iso();
      return reply.code(204).send();
    });

    app.get('/v4/custom_fields', async (req) => {
      const { items, pagination } = this.page(this.customFields, req);
      return { custom_fields: items, pagination };
    });
  }
}

export async function startFakeKit(options?: FakeKitOptions): Promise<FakeKit> {
  return new FakeKit(options).listen();
}
