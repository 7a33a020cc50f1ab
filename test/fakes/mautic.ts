import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake self-hosted Mautic REST API (developer.mautic.org): a real HTTP server on 127.0.0.1,
 * port 0, serving the documented shapes under `/api` of every endpoint the adapter uses.
 * HTTP Basic auth is checked (401 `{"errors":[…]}`). The API rate limiter behaves like Mautic's
 * (noxlogic/ratelimit-bundle, off unless configured): 429 with `X-RateLimit-Limit/-Remaining/-Reset`
 * (epoch seconds) and the bundle's error body; `forceRateLimit` can add a `Retry-After` (a proxy's).
 * Error bodies are `{"errors": [{code, message, details}]}`. Tests seed and read state directly.
 */
export interface FakeMauticOptions {
  user?: string;
  password?: string;
  /** Requests per second before 429 (a bucket of this size). Default: no limit (Mautic's default). */
  rateLimitPerSecond?: number;
  /** Apply the `ids:` search command (default true); false answers every contact, as if it were ignored. */
  idsSearch?: boolean;
  /** Largest page the list endpoints return, whatever `limit` asks (default: none). */
  maxLimit?: number;
}

export interface FakeMauticContact {
  id: number;
  /** alias → value (only non-empty values are kept). */
  fields: Record<string, string>;
  tags: string[];
  dateAdded: string;
  dateModified: string | null;
  dateIdentified: string | null;
}

/** The fields of a fresh instance (subset of Mautic's core and social fields), alias → [label, group, type]. */
const FIELDS: [string, string, string, string][] = [
  ['title', 'Title', 'core', 'lookup'],
  ['firstname', 'First Name', 'core', 'text'],
  ['lastname', 'Last Name', 'core', 'text'],
  ['company', 'Company', 'core', 'text'],
  ['position', 'Position', 'core', 'text'],
  ['email', 'Email', 'core', 'email'],
  ['mobile', 'Mobile', 'core', 'tel'],
  ['phone', 'Phone', 'core', 'tel'],
  ['city', 'City', 'core', 'text'],
  ['country', 'Country', 'core', 'country'],
  ['twitter', 'Twitter', 'social', 'text'],
];

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, '+00:00');
const errors = (code: number, message: string, details: unknown = []) => ({ errors: [{ code, message, details }] });

export class FakeMautic {
  readonly user: string;
  readonly password: string;
  calls = 0;
  rateLimited = 0;
  readonly callsByRoute = new Map<string, number>();
  /** Every request's search parameter, in order (to see what the adapter asked). */
  readonly searches: string[] = [];

  private readonly app: FastifyInstance;
  private readonly contacts = new Map<number, FakeMauticContact>();
  private readonly tags = new Map<number, string>();
  private nextId = { contact: 1, tag: 1 };
  private readonly rate: number | null;
  private tokens: number;
  private refilledAt = Date.now();
  private forced: { count: number; retryAfter: string | null; resetSeconds: number }[] = [];
  private readonly idsSearch: boolean;
  private readonly maxLimit: number;
  private baseUrl = '';

  constructor(options: FakeMauticOptions = {}) {
    this.user = options.user ?? 'crmsync';
    this.password = options.password ?? 'm4utic-secret:pass';
    this.rate = options.rateLimitPerSecond ?? null;
    this.tokens = this.rate ?? 0;
    this.idsSearch = options.idsSearch ?? true;
    this.maxLimit = options.maxLimit ?? Number.POSITIVE_INFINITY;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** The instance URL, like `https://mautic.example.com` (the API is under `/api`). */
  get url(): string {
    return this.baseUrl;
  }

  /** What CRMSYNC_CRM_API_KEY holds: `user:password` (the password may itself contain `:`). */
  get apiKey(): string {
    return `${this.user}:${this.password}`;
  }

  async listen(): Promise<this> {
    this.baseUrl = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  /**
   * The next `count` requests get 429. `retryAfter` (seconds) adds a `Retry-After` header (Mautic
   * itself sends none; a proxy may); `X-RateLimit-Reset` is always now + `resetSeconds`.
   */
  forceRateLimit(options: { retryAfter?: number | null; resetSeconds?: number; count?: number } = {}): void {
    this.forced.push({ count: options.count ?? 1, retryAfter: options.retryAfter === undefined || options.retryAfter === null ? null : String(options.retryAfter), resetSeconds: options.resetSeconds ?? 1 });
  }

  resetCounters(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.callsByRoute.clear();
    this.searches.length = 0;
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  seedTag(name: string): number {
    const existing = [...this.tags].find(([, n]) => n.toLowerCase() === name.toLowerCase());
    if (existing) return existing[0];
    const id = this.nextId.tag++;
    this.tags.set(id, name);
    return id;
  }

  /** A contact with these field values (alias → value) and tags; `identified: false` makes an anonymous visitor. */
  seedContact(c: { email?: string | null; fields?: Record<string, string | null>; tags?: string[]; identified?: boolean }): string {
    const id = this.nextId.contact++;
    const contact: FakeMauticContact = { id, fields: {}, tags: [], dateAdded: now(), dateModified: null, dateIdentified: c.identified === false ? null : now() };
    if (c.email) contact.fields.email = c.email;
    for (const [alias, value] of Object.entries(c.fields ?? {})) if (value !== null && value !== '') contact.fields[alias] = value;
    for (const tag of c.tags ?? []) this.addTag(contact, tag);
    this.contacts.set(id, contact);
    return String(id);
  }

  contactState(id: string): { email: string | null; fields: Record<string, string>; tags: string[] } | null {
    const c = this.contacts.get(Number(id));
    if (!c) return null;
    return { email: c.fields.email ?? null, fields: { ...c.fields }, tags: [...c.tags] };
  }

  contactIdsByEmail(email: string): string[] {
    return [...this.contacts.values()].filter((c) => c.fields.email?.toLowerCase() === email.toLowerCase()).map((c) => String(c.id));
  }

  /** The contact as the API and the webhooks serialise it (`fields` by group, plus `all` for the API). */
  contactJson(id: string | number, options: { all?: boolean } = {}): Record<string, unknown> | null {
    const c = this.contacts.get(Number(id));
    if (!c) return null;
    const groups: Record<string, Record<string, unknown> | unknown[]> = { core: {}, social: {}, personal: [], professional: [] };
    FIELDS.forEach(([alias, label, group, type], i) => {
      (groups[group] as Record<string, unknown>)[alias] = { id: String(i + 1), label, alias, type, group, object: 'lead', is_fixed: '1', value: c.fields[alias] ?? null };
    });
    const fields: Record<string, unknown> = { ...groups };
    if (options.all !== false) fields.all = { id: c.id, ...Object.fromEntries(FIELDS.map(([alias]) => [alias, c.fields[alias] ?? null])) };
    return {
      isPublished: true,
      id: c.id,
      dateAdded: c.dateAdded,
      createdBy: 1,
      createdByUser: 'John Doe',
      dateModified: c.dateModified,
      modifiedBy: c.dateModified ? 1 : null,
      owner: null,
      points: 0,
      lastActive: null,
      dateIdentified: c.dateIdentified,
      color: null,
      ipAddresses: [],
      fields,
      tags: c.tags.map((tag) => ({ id: this.seedTag(tag), tag })),
      utmtags: [],
      doNotContact: [],
    };
  }

  private addTag(c: FakeMauticContact, name: string): void {
    const canonical = this.tags.get(this.seedTag(name.trim()))!;
    if (!c.tags.includes(canonical)) c.tags.push(canonical);
  }

  private admit(): { ok: true; remaining: number } | { ok: false; retryAfter: string | null; reset: number } {
    const forced = this.forced[0];
    if (forced) {
      if (--forced.count <= 0) this.forced.shift();
      return { ok: false, retryAfter: forced.retryAfter, reset: Math.ceil(Date.now() / 1000) + forced.resetSeconds };
    }
    if (this.rate === null) return { ok: true, remaining: 1_000_000 };
    const t = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, retryAfter: null, reset: Math.ceil((t + ((1 - this.tokens) / this.rate) * 1000) / 1000) };
  }

  private authorized(req: FastifyRequest): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    return !!match && Buffer.from(match[1]!, 'base64').toString('utf8') === this.apiKey;
  }

  private page(req: FastifyRequest): { start: number; limit: number } {
    const q = req.query as Record<string, string | undefined>;
    const start = Math.max(0, Number(q.start ?? 0) || 0);
    const limit = Math.min(this.maxLimit, Math.max(1, Number(q.limit ?? 30) || 30));
    return { start, limit };
  }

  private routes(): void {
    const app = this.app;
    const notFound = (reply: FastifyReply) => reply.code(404).send(errors(404, 'Item was not found.'));

    app.addHook('onRequest', async (req, reply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      const admitted = this.admit();
      if (this.rate !== null || !admitted.ok) reply.header('x-ratelimit-limit', String(this.rate ?? 0));
      if (!admitted.ok) {
        this.rateLimited++;
        reply.header('x-ratelimit-remaining', '0').header('x-ratelimit-reset', String(admitted.reset));
        if (admitted.retryAfter !== null) reply.header('retry-after', admitted.retryAfter);
        return reply.code(429).send(errors(429, `You exceeded the rate limit of ${this.rate ?? 0} API calls per hour.`));
      }
      if (this.rate !== null) reply.header('x-ratelimit-remaining', String(admitted.remaining));
      if (!this.authorized(req)) return reply.code(401).send({ errors: [{ message: 'API authorization denied.', code: 401, type: 'access_denied' }] });
    });

    app.setNotFoundHandler((_req, reply) => notFound(reply));

    app.get('/api/contacts', async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const search = (q.search ?? '').trim();
      this.searches.push(search);
      let list = [...this.contacts.values()].sort((a, b) => a.id - b.id);
      const ids = /^ids:([\d,]+)$/.exec(search);
      const email = /^email:(\S+)$/.exec(search);
      if (ids && this.idsSearch) {
        const wanted = new Set(ids[1]!.split(',').filter(Boolean).map(Number));
        list = list.filter((c) => wanted.has(c.id));
      } else if (email) {
        // SQL LIKE 'x%' (case-insensitive collation; `_` matches any one character).
        const pattern = new RegExp(`^${email[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/_/g, '.').replace(/%/g, '.*')}`, 'i');
        list = list.filter((c) => pattern.test(c.fields.email ?? ''));
      } else if (search && !ids) {
        list = [];
      }
      const { start, limit } = this.page(req);
      const slice = list.slice(start, start + limit);
      // PHP: an associative array keyed by id is a JSON object; an empty one is `[]`; total is a string.
      return { total: String(list.length), contacts: slice.length ? Object.fromEntries(slice.map((c) => [String(c.id), this.contactJson(c.id)])) : [] };
    });

    app.get<{ Params: { id: string } }>('/api/contacts/:id', async (req, reply) => {
      const contact = this.contactJson(req.params.id);
      return contact ? { contact } : notFound(reply);
    });

    app.post('/api/contacts/new', async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const email = typeof body.email === 'string' ? body.email.trim() : '';
      if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return reply.code(400).send(errors(400, 'email: A valid email is required.', { email: ['A valid email is required.'] }));
      const id = Number(this.seedContact({}));
      this.write(this.contacts.get(id)!, body);
      return reply.code(201).send({ contact: this.contactJson(id) });
    });

    app.patch<{ Params: { id: string } }>('/api/contacts/:id/edit', async (req, reply) => {
      const contact = this.contacts.get(Number(req.params.id));
      if (!contact) return notFound(reply);
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (typeof body.email === 'string' && body.email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(body.email)) {
        return reply.code(400).send(errors(400, 'email: A valid email is required.', { email: ['A valid email is required.'] }));
      }
      this.write(contact, body);
      contact.dateModified = now();
      return { contact: this.contactJson(contact.id) };
    });

    app.get('/api/tags', async (req) => {
      const { start, limit } = this.page(req);
      const all = [...this.tags].map(([id, tag]) => ({ id, tag, description: null }));
      return { total: all.length, tags: all.slice(start, start + limit) };
    });

    app.get('/api/fields/contact', async (req) => {
      const { start, limit } = this.page(req);
      const all = FIELDS.map(([alias, label, group, type], i) => ({ isPublished: true, id: i + 1, label, alias, type, group, order: i, object: 'lead', defaultValue: null, isRequired: false, isPubliclyUpdatable: false, isUniqueIdentifier: alias === 'email', properties: [] }));
      return { total: all.length, fields: all.slice(start, start + limit) };
    });
  }

  /**
   * A contact edit as Mautic applies it: known field aliases are set (others ignored), empty values
   * are skipped unless `overwriteWithBlank` is true; `tags` adds names and removes `-name`s.
   */
  private write(c: FakeMauticContact, body: Record<string, unknown>): void {
    const blank = body.overwriteWithBlank === true || body.overwriteWithBlank === 'true' || body.overwriteWithBlank === 1;
    for (const [alias] of FIELDS) {
      if (!(alias in body)) continue;
      const value = body[alias];
      if (value === null || value === '') {
        if (blank) delete c.fields[alias];
      } else if (typeof value === 'string' || typeof value === 'number') c.fields[alias] = String(value);
    }
    if (c.fields.email && !c.dateIdentified) c.dateIdentified = now();
    const tags = Array.isArray(body.tags) ? body.tags : typeof body.tags === 'string' ? body.tags.split(',') : [];
    for (const raw of tags) {
      if (typeof raw !== 'string' || !raw.trim()) continue;
      const name = raw.trim();
      if (name.startsWith('-')) {
        const key = name.slice(1).toLowerCase();
        c.tags = c.tags.filter((t) => t.toLowerCase() !== key);
      } else this.addTag(c, name);
    }
  }
}

export async function startFakeMautic(options?: FakeMauticOptions): Promise<FakeMautic> {
  return new FakeMautic(options).listen();
}
