import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake Brevo API v3 (developers.brevo.com/reference): a real HTTP server on 127.0.0.1, port 0,
 * serving the documented shapes of every endpoint the adapter uses. The `api-key` header is
 * checked (401 `{code:"unauthorized"}`); the rate limit answers 429 with Brevo's
 * `x-sib-ratelimit-limit/-remaining/-reset` headers and **no Retry-After** (as documented).
 * Error bodies are `{code, message}`. Tests seed and read state directly.
 */
export interface FakeBrevoOptions {
  apiKey?: string;
  /** Requests per second (a bucket of this size). Default 10 (36,000/hour on /v3/contacts). */
  rateLimitPerSecond?: number;
  /** Honour the `ids` filter of `GET /contacts` (default true). */
  idsFilter?: boolean;
  /** The time contacts' modifiedAt is stamped with (a test's controllable clock); default Date.now. */
  now?: () => number;
}

export interface FakeBrevoContact {
  id: number;
  email: string;
  attributes: Record<string, string>;
  listIds: Set<number>;
  createdAt: string;
  modifiedAt: string;
}

interface ListRow {
  id: number;
  name: string;
  folderId: number;
}


export class FakeBrevo {
  readonly apiKey: string;
  calls = 0;
  rateLimited = 0;
  readonly callsByRoute = new Map<string, number>();
  /** Attribute names the account knows (normal category). */
  readonly attributeNames = ['EMAIL', 'FIRSTNAME', 'LASTNAME', 'SMS', 'COMPANY'];

  private readonly app: FastifyInstance;
  private readonly contacts = new Map<number, FakeBrevoContact>();
  private readonly lists = new Map<number, ListRow>();
  private readonly folders = new Map<number, string>();
  private nextId = { contact: 1, list: 1, folder: 1 };
  private rate: number;
  private tokens: number;
  private refilledAt = Date.now();
  private forced: { count: number; reset: string }[] = [];
  private readonly idsFilter: boolean;
  private readonly clock: () => number;
  private baseUrl = '';

  constructor(options: FakeBrevoOptions = {}) {
    this.apiKey = options.apiKey ?? 'xkeysib-test';
    this.rate = options.rateLimitPerSecond ?? 10;
    this.tokens = this.rate;
    this.idsFilter = options.idsFilter ?? true;
    this.clock = options.now ?? Date.now;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** Like `https://api.brevo.com/v3`. */
  get url(): string {
    return `${this.baseUrl}/v3`;
  }

  async listen(): Promise<this> {
    this.baseUrl = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  /** The next `count` requests get 429 with `x-sib-ratelimit-reset: resetSeconds` (no Retry-After). */
  forceRateLimit(resetSeconds = 1, count = 1): void {
    this.forced.push({ count, reset: String(resetSeconds) });
  }

  resetCounters(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.callsByRoute.clear();
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  seedFolder(name: string): number {
    const id = this.nextId.folder++;
    this.folders.set(id, name);
    return id;
  }

  seedList(name: string, folderId?: number): number {
    const existing = [...this.lists.values()].find((l) => l.name === name);
    if (existing) return existing.id;
    const id = this.nextId.list++;
    this.lists.set(id, { id, name, folderId: folderId ?? [...this.folders.keys()][0] ?? this.seedFolder('Your first folder') });
    return id;
  }

  seedContact(c: { email: string; attributes?: Record<string, string | null>; lists?: string[] }): string {
    const id = this.nextId.contact++;
    const contact: FakeBrevoContact = { id, email: c.email.toLowerCase(), attributes: {}, listIds: new Set(), createdAt: this.iso(), modifiedAt: this.iso() };
    for (const [k, v] of Object.entries(c.attributes ?? {})) if (v !== null && v !== '') contact.attributes[k.toUpperCase()] = v;
    for (const name of c.lists ?? []) contact.listIds.add(this.seedList(name));
    this.contacts.set(id, contact);
    return String(id);
  }

  contactState(id: string): { email: string; attributes: Record<string, string>; lists: string[] } | null {
    const c = this.contacts.get(Number(id));
    if (!c) return null;
    return { email: c.email, attributes: { ...c.attributes }, lists: [...c.listIds].map((l) => this.lists.get(l)!.name) };
  }

  listNames(): string[] {
    return [...this.lists.values()].map((l) => l.name);
  }

  /** As a Brevo user would: edit attributes, add to or remove from lists (modifiedAt moves; an assumption for lists, see the adapter's README). */
  editContact(id: string, edit: { attributes?: Record<string, string | null>; addLists?: string[]; removeLists?: string[] }): void {
    const c = this.contacts.get(Number(id));
    if (!c) throw new Error(`no contact ${id}`);
    this.write(c, edit.attributes, (edit.addLists ?? []).map((n) => this.seedList(n)), (edit.removeLists ?? []).map((n) => this.seedList(n)));
  }

  private iso(): string {
    return new Date(this.clock()).toISOString();
  }

  private find(identifier: string): FakeBrevoContact | undefined {
    if (/^\d+$/.test(identifier)) return this.contacts.get(Number(identifier));
    const email = identifier.toLowerCase();
    return [...this.contacts.values()].find((c) => c.email === email);
  }

  private contactJson(c: FakeBrevoContact) {
    return {
      email: c.email,
      id: c.id,
      emailBlacklisted: false,
      smsBlacklisted: false,
      createdAt: c.createdAt,
      modifiedAt: c.modifiedAt,
      attributes: { ...c.attributes },
      listIds: [...c.listIds],
      statistics: {},
    };
  }

  private admit(): { ok: true; remaining: number } | { ok: false; reset: string } {
    const forced = this.forced[0];
    if (forced) {
      if (--forced.count <= 0) this.forced.shift();
      return { ok: false, reset: forced.reset };
    }
    const t = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, reset: String(Math.max(1, Math.ceil((1 - this.tokens) / this.rate))) };
  }

  private routes(): void {
    const app = this.app;
    const notFound = (reply: FastifyReply, message = 'Contact does not exist') => reply.code(404).send({ code: 'document_not_found', message });
    const bad = (reply: FastifyReply, message: string, code = 'invalid_parameter') => reply.code(400).send({ code, message });

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      const admitted = this.admit();
      reply.header('x-sib-ratelimit-limit', String(this.rate));
      if (!admitted.ok) {
        this.rateLimited++;
        reply.header('x-sib-ratelimit-remaining', '0').header('x-sib-ratelimit-reset', admitted.reset);
        return reply.code(429).send({ code: 'too_many_requests', message: 'The expected rate limit is exceeded.' });
      }
      reply.header('x-sib-ratelimit-remaining', String(admitted.remaining));
      if (req.headers['api-key'] !== this.apiKey) return reply.code(401).send({ code: 'unauthorized', message: 'Key not found' });
    });

    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ code: 'not_found', message: 'Invalid route' }));

    // Get all the contacts / Get contacts in a list: limit (≤ 1000 / ≤ 500), offset, modifiedSince,
    // sort (by creation; desc unless sort=asc).
    const listing = (max: number, listId: number | null) => async (req: FastifyRequest, reply: FastifyReply) => {
      const q = new URL(req.url, 'http://x').searchParams;
      let list = [...this.contacts.values()].sort((a, b) => (q.get('sort') === 'asc' ? a.id - b.id : b.id - a.id));
      if (listId !== null) list = list.filter((c) => c.listIds.has(listId));
      const ids = (q.get('ids') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      if (this.idsFilter && ids.length > 0) list = list.filter((c) => ids.includes(String(c.id)));
      const modifiedSince = q.get('modifiedSince');
      if (modifiedSince !== null) {
        const at = Date.parse(modifiedSince);
        if (Number.isNaN(at)) return bad(reply, 'modifiedSince is not a date');
        list = list.filter((c) => Date.parse(c.modifiedAt) >= at);
      }
      const limit = Number(q.get('limit') ?? 50) || 50;
      if (limit > max) return bad(reply, `limit must be at most ${max}`);
      const offset = Number(q.get('offset') ?? 0) || 0;
      return { contacts: list.slice(offset, offset + limit).map((c) => this.contactJson(c)), count: list.length };
    };
    app.get('/v3/contacts', listing(1000, null));
    app.get<{ Params: { listId: string } }>('/v3/contacts/lists/:listId/contacts', async (req, reply) => {
      const listId = Number(req.params.listId);
      if (!this.lists.has(listId)) return notFound(reply, 'List ID does not exist');
      return listing(500, listId)(req, reply);
    });

    app.get('/v3/contacts/lists', async (req) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const limit = Number(q.get('limit') ?? 10) || 10;
      const offset = Number(q.get('offset') ?? 0) || 0;
      const all = [...this.lists.values()];
      const lists = all.slice(offset, offset + Math.min(limit, 50)).map((l) => ({
        id: l.id,
        name: l.name,
        folderId: l.folderId,
        uniqueSubscribers: [...this.contacts.values()].filter((c) => c.listIds.has(l.id)).length,
        totalBlacklisted: 0,
        totalSubscribers: [...this.contacts.values()].filter((c) => c.listIds.has(l.id)).length,
      }));
      return { lists, count: all.length };
    });

    app.post('/v3/contacts/lists', async (req, reply) => {
      const body = (req.body ?? {}) as { name?: unknown; folderId?: unknown };
      if (typeof body.name !== 'string' || !body.name.trim()) return bad(reply, 'name is missing', 'missing_parameter');
      if (typeof body.folderId !== 'number' || !this.folders.has(body.folderId)) return bad(reply, 'folderId is missing or invalid', 'missing_parameter');
      const id = this.nextId.list++;
      this.lists.set(id, { id, name: body.name.trim(), folderId: body.folderId });
      return reply.code(201).send({ id });
    });

    app.get('/v3/contacts/folders', async () => ({ folders: [...this.folders].map(([id, name]) => ({ id, name, totalBlacklisted: 0, totalSubscribers: 0, uniqueSubscribers: 0 })), count: this.folders.size }));

    app.post('/v3/contacts/folders', async (req, reply) => {
      const name = (req.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name.trim()) return bad(reply, 'name is missing', 'missing_parameter');
      return reply.code(201).send({ id: this.seedFolder(name.trim()) });
    });

    app.get('/v3/contacts/attributes', async () => ({
      attributes: this.attributeNames.filter((n) => n !== 'EMAIL').map((name) => ({ name, category: 'normal', type: 'text' })),
    }));

    app.get<{ Params: { identifier: string } }>('/v3/contacts/:identifier', async (req, reply) => {
      const c = this.find(req.params.identifier);
      return c ? this.contactJson(c) : notFound(reply);
    });

    app.post('/v3/contacts', async (req, reply) => {
      const body = (req.body ?? {}) as { email?: unknown; attributes?: Record<string, unknown>; updateEnabled?: unknown; listIds?: number[] };
      const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return bad(reply, 'Invalid email address');
      const existing = this.find(email);
      if (existing && body.updateEnabled !== true) return bad(reply, 'Contact already exist', 'duplicate_parameter');
      const error = this.checkAttributes(body.attributes);
      if (error) return bad(reply, error);
      const contact = existing ?? this.contacts.get(Number(this.seedContact({ email })))!;
      this.write(contact, body.attributes, body.listIds, undefined);
      return existing ? reply.code(204).send() : reply.code(201).send({ id: contact.id });
    });

    app.put<{ Params: { identifier: string } }>('/v3/contacts/:identifier', async (req, reply) => {
      const contact = this.find(req.params.identifier);
      if (!contact) return notFound(reply);
      const body = (req.body ?? {}) as { attributes?: Record<string, unknown>; listIds?: number[]; unlinkListIds?: number[] };
      const error = this.checkAttributes(body.attributes);
      if (error) return bad(reply, error);
      const unknownList = [...(body.listIds ?? []), ...(body.unlinkListIds ?? [])].find((id) => !this.lists.has(id));
      if (unknownList !== undefined) return notFound(reply, `List ID does not exist: ${unknownList}`);
      this.write(contact, body.attributes, body.listIds, body.unlinkListIds);
      return reply.code(204).send();
    });
  }

  private checkAttributes(attributes: Record<string, unknown> | undefined): string | null {
    for (const key of Object.keys(attributes ?? {})) if (!this.attributeNames.includes(key)) return `Attribute does not exist: ${key}`;
    return null;
  }

  private write(c: FakeBrevoContact, attributes: Record<string, unknown> | undefined, add: number[] | undefined, remove: number[] | undefined): void {
    for (const [k, v] of Object.entries(attributes ?? {})) {
      if (v === null || v === '') delete c.attributes[k];
      else c.attributes[k] = String(v);
    }
    for (const id of add ?? []) c.listIds.add(id);
    for (const id of remove ?? []) c.listIds.delete(id);
    c.modifiedAt = this.iso();
  }
}

export async function startFakeBrevo(options?: FakeBrevoOptions): Promise<FakeBrevo> {
  return new FakeBrevo(options).listen();
}
