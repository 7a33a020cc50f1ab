import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake Klaviyo API (developers.klaviyo.com/en/reference): a real HTTP server on 127.0.0.1,
 * port 0, speaking JSON:API for every endpoint the adapter uses. Checks
 * `Authorization: Klaviyo-API-Key …` (401) and the required `revision` header (400); errors are
 * `{errors: [{id, status, code, title, detail, source}]}`; the rate limit answers 429 with
 * `Retry-After` (seconds), other answers carry `RateLimit-Limit/-Remaining/-Reset`.
 * Lists page 10 at a time with `links.next` cursors. Tests seed and read state directly.
 */
export interface FakeKlaviyoOptions {
  apiKey?: string;
  /** Requests per second (a bucket of this size). Default 3 (Get Profile Lists' burst). */
  rateLimitPerSecond?: number;
  /** The time profiles' created/updated are stamped with (a test's controllable clock); default Date.now. */
  now?: () => number;
}

export interface FakeProfile {
  id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  phone_number: string | null;
  properties: Record<string, string>;
  lists: Set<string>;
  created: string;
  updated: string;
}

const ULID = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const newProfileId = () => Array.from(randomBytes(26), (b) => ULID[b % 32]).join('');
const newListId = () => Array.from(randomBytes(6), (b) => 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789'[b % 56]).join('');
const klaviyoDate = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
const STANDARD = ['email', 'first_name', 'last_name', 'phone_number'] as const;

export class FakeKlaviyo {
  readonly apiKey: string;
  calls = 0;
  rateLimited = 0;
  readonly callsByRoute = new Map<string, number>();
  /** The `revision` headers received. */
  readonly revisions = new Set<string>();

  private readonly app: FastifyInstance;
  private readonly profiles = new Map<string, FakeProfile>();
  private readonly lists = new Map<string, { id: string; name: string; created: string }>();
  private rate: number;
  private tokens: number;
  private refilledAt = Date.now();
  private readonly clock: () => number;
  private forced: { count: number; retryAfter: string }[] = [];
  private baseUrl = '';

  constructor(options: FakeKlaviyoOptions = {}) {
    this.clock = options.now ?? Date.now;
    this.apiKey = options.apiKey ?? 'pk_test_fake';
    this.rate = options.rateLimitPerSecond ?? 3;
    this.tokens = this.rate;
    this.app = Fastify({ logger: false });
    this.app.addContentTypeParser('application/vnd.api+json', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, body ? JSON.parse(body as string) : {});
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    this.routes();
  }

  /** Like `https://a.klaviyo.com/api`. */
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

  forceRateLimit(retryAfterSeconds = 1, count = 1): void {
    this.forced.push({ count, retryAfter: String(retryAfterSeconds) });
  }

  resetCounters(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.callsByRoute.clear();
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  seedList(name: string): string {
    const existing = [...this.lists.values()].find((l) => l.name === name);
    if (existing) return existing.id;
    const id = newListId();
    this.lists.set(id, { id, name, created: this.iso() });
    return id;
  }

  deleteList(id: string): void {
    this.lists.delete(id);
    for (const p of this.profiles.values()) p.lists.delete(id);
  }

  seedProfile(p: { email: string; first_name?: string | null; last_name?: string | null; phone_number?: string | null; properties?: Record<string, string | null>; lists?: string[] }): string {
    const id = newProfileId();
    const profile: FakeProfile = {
      id,
      email: p.email.toLowerCase(),
      first_name: p.first_name || null,
      last_name: p.last_name || null,
      phone_number: p.phone_number || null,
      properties: {},
      lists: new Set((p.lists ?? []).map((n) => this.seedList(n))),
      created: this.iso(),
      updated: this.iso(),
    };
    for (const [k, v] of Object.entries(p.properties ?? {})) if (v !== null && v !== '') profile.properties[k] = v;
    this.profiles.set(id, profile);
    return id;
  }

  profileState(id: string): { email: string; first_name: string | null; last_name: string | null; phone_number: string | null; properties: Record<string, string>; lists: string[] } | null {
    const p = this.profiles.get(id);
    if (!p) return null;
    return { email: p.email, first_name: p.first_name, last_name: p.last_name, phone_number: p.phone_number, properties: { ...p.properties }, lists: [...p.lists].map((l) => this.lists.get(l)!.name) };
  }

  private profileJson(p: FakeProfile) {
    const self = `${this.url}/profiles/${p.id}/`;
    return {
      type: 'profile',
      id: p.id,
      attributes: {
        email: p.email,
        phone_number: p.phone_number,
        external_id: null,
        first_name: p.first_name,
        last_name: p.last_name,
        organization: null,
        locale: null,
        title: null,
        image: null,
        created: p.created,
        updated: p.updated,
        last_event_date: null,
        location: { address1: null, address2: null, city: null, country: null, latitude: null, longitude: null, region: null, zip: null, timezone: null, ip: null },
        properties: { ...p.properties },
      },
      relationships: { lists: { links: { self: `${self}relationships/lists/`, related: `${self}lists/` } }, segments: { links: { self: `${self}relationships/segments/`, related: `${self}segments/` } } },
      links: { self },
    };
  }

  private listJson(l: { id: string; name: string; created: string }) {
    return { type: 'list', id: l.id, attributes: { name: l.name, created: l.created, updated: l.created, opt_in_process: 'single_opt_in' }, links: { self: `${this.url}/lists/${l.id}/` } };
  }

  private admit(): { ok: true; remaining: number } | { ok: false; retryAfter: string } {
    const forced = this.forced[0];
    if (forced) {
      if (--forced.count <= 0) this.forced.shift();
      return { ok: false, retryAfter: forced.retryAfter };
    }
    const t = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, retryAfter: String(Math.max(1, Math.ceil((1 - this.tokens) / this.rate))) };
  }

  /** `equals(email,"x")` and `any(id,["a","b"])`, as documented for Get Profiles. */
  private iso(): string {
    return klaviyoDate(this.clock());
  }

  /** As a Klaviyo user would: edit a profile's attributes (its `updated` moves). */
  editProfile(id: string, attributes: Record<string, unknown>): void {
    this.write(this.profiles.get(id)!, attributes, []);
  }

  /** A page of `items` at the offset named by `page[cursor]`, with JSON:API `links.next`. */
  private paged<T>(items: T[], size: number, q: URLSearchParams, self: string) {
    const offset = Number(q.get('page[cursor]') ?? 0) || 0;
    const next = offset + size < items.length ? `${self}?page[cursor]=${offset + size}&page[size]=${size}` : null;
    return { items: items.slice(offset, offset + size), links: { self, next, prev: null } };
  }

  private filter(expr: string | null): ((p: FakeProfile) => boolean) | 'invalid' {
    if (expr === null) return () => true;
    const since = /^greater-than\(updated,([0-9T:.+\-Z]+)\)$/.exec(expr);
    if (since) {
      const at = Date.parse(since[1]!);
      return Number.isNaN(at) ? 'invalid' : (p) => Date.parse(p.updated) > at;
    }
    const strings = (s: string) => [...s.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
    let m = /^equals\((email|id),("(?:[^"\\]|\\.)*")\)$/.exec(expr);
    if (m) {
      const [value] = strings(m[2]!);
      return m[1] === 'email' ? (p) => p.email === value!.toLowerCase() : (p) => p.id === value;
    }
    m = /^any\((email|id),\[(.*)\]\)$/.exec(expr);
    if (m) {
      const values = new Set(strings(m[2]!));
      return m[1] === 'email' ? (p) => values.has(p.email) : (p) => values.has(p.id);
    }
    return 'invalid';
  }

  private routes(): void {
    const app = this.app;
    const error = (reply: FastifyReply, status: number, code: string, title: string, detail: string, source: Record<string, string> = {}) =>
      reply.code(status).type('application/vnd.api+json').send({ errors: [{ id: randomBytes(8).toString('hex'), status, code, title, detail, source }] });

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      const admitted = this.admit();
      if (!admitted.ok) {
        this.rateLimited++;
        reply.header('Retry-After', admitted.retryAfter);
        return error(reply, 429, 'throttled', 'Request was throttled.', `Request was throttled. Expected available in ${admitted.retryAfter} seconds.`);
      }
      reply.header('RateLimit-Limit', `${this.rate * 60}`).header('RateLimit-Remaining', String(admitted.remaining)).header('RateLimit-Reset', '60');
      if (req.headers.authorization !== `Klaviyo-API-Key ${this.apiKey}`) {
        return error(reply, 401, 'not_authenticated', 'Authentication credentials were not provided.', 'Missing or invalid private key.');
      }
      const revision = req.headers.revision;
      if (typeof revision !== 'string' || !/^\d{4}-\d{2}-\d{2}(\.pre)?$/.test(revision)) {
        return error(reply, 400, 'invalid', 'Invalid input.', 'Missing or invalid revision header', { parameter: 'revision' });
      }
      this.revisions.add(revision);
      reply.type('application/vnd.api+json');
    });

    app.setNotFoundHandler((_req, reply) => error(reply, 404, 'not_found', 'Not found.', 'The requested resource was not found.'));

    app.get('/api/profiles', async (req, reply) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const size = Number(q.get('page[size]') ?? 20);
      if (!(size >= 1 && size <= 100)) return error(reply, 400, 'invalid', 'Invalid input.', 'page[size] must be between 1 and 100', { parameter: 'page[size]' });
      const predicate = this.filter(q.get('filter'));
      if (predicate === 'invalid') return error(reply, 400, 'invalid', 'Invalid input.', `Invalid filter provided: ${q.get('filter')}`, { parameter: 'filter' });
      const page = this.paged([...this.profiles.values()].filter(predicate), size, q, `${this.url}/profiles/`);
      return { data: page.items.map((p) => this.profileJson(p)), links: page.links };
    });

    // Get List Profiles: page[size] ≤ 100, page[cursor].
    app.get<{ Params: { id: string } }>('/api/lists/:id/profiles', async (req, reply) => {
      if (!this.lists.has(req.params.id)) return error(reply, 404, 'not_found', 'Not found.', `A list with id ${req.params.id} does not exist.`);
      const q = new URL(req.url, 'http://x').searchParams;
      const size = Number(q.get('page[size]') ?? 20);
      if (!(size >= 1 && size <= 100)) return error(reply, 400, 'invalid', 'Invalid input.', 'page[size] must be between 1 and 100', { parameter: 'page[size]' });
      const page = this.paged([...this.profiles.values()].filter((p) => p.lists.has(req.params.id)), size, q, `${this.url}/lists/${req.params.id}/profiles/`);
      return { data: page.items.map((p) => this.profileJson(p)), links: page.links };
    });

    app.get<{ Params: { id: string } }>('/api/profiles/:id', async (req, reply) => {
      const p = this.profiles.get(req.params.id);
      return p ? { data: this.profileJson(p), links: { self: `${this.url}/profiles/${p.id}/` } } : error(reply, 404, 'not_found', 'Not found.', `A profile with id ${req.params.id} does not exist.`);
    });

    app.get<{ Params: { id: string } }>('/api/profiles/:id/relationships/lists', async (req, reply) => {
      const p = this.profiles.get(req.params.id);
      if (!p) return error(reply, 404, 'not_found', 'Not found.', `A profile with id ${req.params.id} does not exist.`);
      return { data: [...p.lists].map((id) => ({ type: 'list', id })), links: { self: `${this.url}/profiles/${p.id}/relationships/lists/`, next: null, prev: null } };
    });

    app.post('/api/profile-import', async (req, reply) => {
      const data = (req.body as { data?: { type?: string; id?: string; attributes?: Record<string, unknown> } } | null)?.data;
      if (data?.type !== 'profile') return error(reply, 400, 'invalid', 'Invalid input.', 'data.type must be profile', { pointer: '/data/type' });
      const attributes = data.attributes ?? {};
      const email = typeof attributes.email === 'string' ? attributes.email.trim().toLowerCase() : '';
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return error(reply, 400, 'invalid', 'Invalid input.', 'Invalid email address', { pointer: '/data/attributes/email' });
      const existing = [...this.profiles.values()].find((p) => p.email === email);
      const profile = existing ?? this.profiles.get(this.seedProfile({ email }))!;
      this.write(profile, attributes, []);
      return reply.code(existing ? 200 : 201).send({ data: this.profileJson(profile) });
    });

    app.patch<{ Params: { id: string } }>('/api/profiles/:id', async (req, reply) => {
      const body = req.body as { data?: { type?: string; id?: string; attributes?: Record<string, unknown> }; meta?: { patch_properties?: { unset?: string[] } } } | null;
      if (body?.data?.type !== 'profile' || body.data.id !== req.params.id) return error(reply, 409, 'conflict', 'Conflict.', 'data.id must match the URL', { pointer: '/data/id' });
      const profile = this.profiles.get(req.params.id);
      if (!profile) return error(reply, 404, 'not_found', 'Not found.', `A profile with id ${req.params.id} does not exist.`);
      this.write(profile, body.data.attributes ?? {}, body.meta?.patch_properties?.unset ?? []);
      return { data: this.profileJson(profile) };
    });

    app.get('/api/lists', async (req) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const offset = Number(q.get('page[cursor]') ?? 0) || 0;
      const all = [...this.lists.values()];
      const page = all.slice(offset, offset + 10);
      const next = offset + 10 < all.length ? `${this.url}/lists/?page%5Bcursor%5D=${offset + 10}` : null;
      return { data: page.map((l) => this.listJson(l)), links: { self: `${this.url}/lists/`, next, prev: null } };
    });

    app.post('/api/lists', async (req, reply) => {
      const data = (req.body as { data?: { type?: string; attributes?: { name?: unknown } } } | null)?.data;
      const name = typeof data?.attributes?.name === 'string' ? data.attributes.name.trim() : '';
      if (data?.type !== 'list' || !name) return error(reply, 400, 'invalid', 'Invalid input.', 'A list name is required', { pointer: '/data/attributes/name' });
      const id = newListId();
      this.lists.set(id, { id, name, created: this.iso() });
      return reply.code(201).send({ data: this.listJson(this.lists.get(id)!) });
    });

    const membership = (add: boolean) => async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      if (!this.lists.has(req.params.id)) return error(reply, 404, 'not_found', 'Not found.', `A list with id ${req.params.id} does not exist.`);
      const data = (req.body as { data?: { type?: string; id?: string }[] } | null)?.data;
      if (!Array.isArray(data) || data.length === 0 || data.length > 1000) return error(reply, 400, 'invalid', 'Invalid input.', 'data must hold 1 to 1000 profiles', { pointer: '/data' });
      const unknown = data.find((r) => r.type !== 'profile' || !this.profiles.has(String(r.id)));
      if (unknown) return error(reply, 404, 'not_found', 'Not found.', `A profile with id ${String(unknown.id)} does not exist.`, { pointer: '/data' });
      for (const r of data) {
        const p = this.profiles.get(String(r.id))!;
        if (add) p.lists.add(req.params.id);
        else p.lists.delete(req.params.id);
      }
      return reply.code(204).send();
    };
    app.post('/api/lists/:id/relationships/profiles', membership(true));
    app.delete('/api/lists/:id/relationships/profiles', membership(false));
  }

  private write(p: FakeProfile, attributes: Record<string, unknown>, unset: string[]): void {
    for (const key of STANDARD) {
      if (!(key in attributes)) continue;
      const v = attributes[key];
      if (key === 'email') {
        if (typeof v === 'string' && v.trim()) p.email = v.trim().toLowerCase();
      } else p[key] = v === null || v === '' ? null : String(v);
    }
    const props = attributes.properties;
    if (props && typeof props === 'object') for (const [k, v] of Object.entries(props)) if (v !== null && v !== undefined) p.properties[k] = String(v);
    for (const k of unset) delete p.properties[k];
    p.updated = this.iso();
  }
}

export async function startFakeKlaviyo(options?: FakeKlaviyoOptions): Promise<FakeKlaviyo> {
  return new FakeKlaviyo(options).listen();
}
