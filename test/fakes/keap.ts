import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake Keap (Infusionsoft) REST API v1: a real HTTP server on 127.0.0.1 (port 0) under
 * `/crm/rest/v1`, speaking the documented shapes of every endpoint the adapter uses: contacts
 * (GET by id with `optional_properties`, list by `email`, `PUT /contacts` with `duplicate_option`,
 * `PATCH` with `update_mask`), contact tags by id (`POST /contacts/{id}/tags {tagIds}`,
 * `DELETE /contacts/{id}/tags/{tagId}`), tags (list, create) and `contactCustomFields`.
 * `X-Keap-API-Key` (or `Authorization: Bearer`) is checked (401 when missing or wrong); the
 * documented Service Account Key quota (240 per minute) is enforced with 429, the throttling
 * body seen in the field and the `x-keap-product-quota-*` headers (Keap documents no Retry-After).
 */
export interface FakeKeapOptions {
  apiKey?: string;
  /** Requests allowed per minute. Default 240, as documented for Service Account Keys. */
  quotaPerMinute?: number;
  /** The time contacts' last_updated is stamped with (a test's controllable clock); default Date.now. */
  now?: () => number;
}

export interface FakeKeapContact {
  id: number;
  given_name: string;
  family_name: string;
  email_addresses: { email: string; field: string }[];
  phone_numbers: { number: string; field: string; type?: string }[];
  custom_fields: Map<number, string>;
  tag_ids: number[];
  date_created: string;
  last_updated: string;
}

export interface SeedKeapContact {
  email: string;
  given_name?: string | null;
  family_name?: string | null;
  phone?: string | null;
  /** Custom field id → value. */
  custom?: Record<number, string | null>;
  /** Tag names (created when unknown). */
  tags?: string[];
}

const THROTTLED = { code: '429', message: 'Quota Exceeded', status: 'Request Throttled', details: null };
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export class FakeKeap {
  readonly apiKey: string;
  calls = 0;
  rateLimited = 0;
  readonly callsByRoute = new Map<string, number>();
  /** Bodies of PUT/PATCH /contacts, in order. */
  readonly contactWrites: { method: string; query: string; body: unknown }[] = [];

  private readonly app: FastifyInstance;
  private readonly contacts = new Map<number, FakeKeapContact>();
  private readonly tags = new Map<number, { id: number; name: string; description: string; category: null }>();
  private readonly customFields = new Map<number, { id: number; label: string; field_type: string; field_name: string }>();
  private nextId = { contact: 100, tag: 90, field: 10 };
  private readonly clock: () => number;
  private perMinute: number;
  private tokens: number;
  private refilledAt = Date.now();
  private forced = 0;
  private baseUrl = '';

  constructor(options: FakeKeapOptions = {}) {
    this.apiKey = options.apiKey ?? 'KeapAK-test-service-account-key';
    this.clock = options.now ?? Date.now;
    this.perMinute = options.quotaPerMinute ?? 240;
    this.tokens = this.perMinute;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** `http://127.0.0.1:PORT` (the adapter's URL is `${url}/crm/rest/v1`). */
  get url(): string {
    return this.baseUrl;
  }

  get apiUrl(): string {
    return `${this.baseUrl}/crm/rest/v1`;
  }

  async listen(): Promise<this> {
    this.baseUrl = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  forceRateLimit(count = 1): void {
    this.forced += count;
  }

  resetCounters(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.callsByRoute.clear();
    this.contactWrites.length = 0;
  }

  routeCalls(route: string): number {
    return this.callsByRoute.get(route) ?? 0;
  }

  // ---- state helpers (no HTTP) ----

  seedCustomField(label: string): number {
    const id = this.nextId.field++;
    this.customFields.set(id, { id, label, field_type: 'Text', field_name: label.replace(/\W/g, '') });
    return id;
  }

  seedTag(name: string): number {
    const existing = [...this.tags.values()].find((t) => t.name.toLowerCase() === name.trim().toLowerCase());
    if (existing) return existing.id;
    const id = this.nextId.tag++;
    this.tags.set(id, { id, name: name.trim(), description: '', category: null });
    return id;
  }

  deleteTag(id: number): void {
    this.tags.delete(id);
    for (const c of this.contacts.values()) c.tag_ids = c.tag_ids.filter((t) => t !== id);
  }

  seedContact(seed: SeedKeapContact): string {
    const c = this.create(seed.email);
    c.given_name = seed.given_name ?? '';
    c.family_name = seed.family_name ?? '';
    if (seed.phone) c.phone_numbers.push({ number: seed.phone, field: 'PHONE1', type: 'Work' });
    for (const [id, value] of Object.entries(seed.custom ?? {})) c.custom_fields.set(Number(id), value ?? '');
    for (const name of seed.tags ?? []) this.link(c, this.seedTag(name));
    return String(c.id);
  }

  tagContact(id: string, name: string): void {
    const c = this.contacts.get(Number(id))!;
    this.link(c, this.seedTag(name));
    c.last_updated = this.iso(); // as the tag routes do here (an assumption: see the adapter's README)
  }

  private iso(): string {
    return new Date(this.clock()).toISOString();
  }

  contactState(id: string): { email: string; given_name: string; family_name: string; phones: Record<string, string>; custom: Record<number, string>; tags: string[] } | null {
    const c = this.contacts.get(Number(id));
    if (!c) return null;
    return {
      email: c.email_addresses.find((e) => e.field === 'EMAIL1')?.email ?? '',
      given_name: c.given_name,
      family_name: c.family_name,
      phones: Object.fromEntries(c.phone_numbers.map((p) => [p.field, p.number])),
      custom: Object.fromEntries(c.custom_fields),
      tags: c.tag_ids.map((t) => this.tags.get(t)?.name).filter((n): n is string => n !== undefined),
    };
  }

  contactIdsByEmail(email: string): string[] {
    return [...this.contacts.values()].filter((c) => this.hasEmail(c, email)).map((c) => String(c.id));
  }

  // ---- internals ----

  private create(email: string): FakeKeapContact {
    const id = this.nextId.contact++;
    const c: FakeKeapContact = { id, given_name: '', family_name: '', email_addresses: [{ email, field: 'EMAIL1' }], phone_numbers: [], custom_fields: new Map(), tag_ids: [], date_created: this.iso(), last_updated: this.iso() };
    this.contacts.set(id, c);
    return c;
  }

  private hasEmail(c: FakeKeapContact, email: string): boolean {
    return c.email_addresses.some((e) => e.email.toLowerCase() === email.trim().toLowerCase());
  }

  private link(c: FakeKeapContact, tagId: number): void {
    if (!c.tag_ids.includes(tagId)) c.tag_ids.push(tagId);
  }

  private json(c: FakeKeapContact, optional: string[]) {
    const out: Record<string, unknown> = {
      id: c.id,
      given_name: c.given_name || null,
      family_name: c.family_name || null,
      middle_name: null,
      email_addresses: c.email_addresses.map((e) => ({ ...e })),
      phone_numbers: c.phone_numbers.map((p) => ({ extension: null, type: 'Work', ...p })),
      addresses: [],
      email_status: 'SingleOptIn',
      email_opted_in: false,
      date_created: c.date_created,
      last_updated: c.last_updated,
      owner_id: null,
      ScoreValue: null,
    };
    if (optional.includes('custom_fields')) out.custom_fields = [...this.customFields.keys()].map((id) => ({ id, content: c.custom_fields.get(id) ?? null }));
    if (optional.includes('tag_ids')) out.tag_ids = [...c.tag_ids];
    return out;
  }

  /** Applies a contact body; returns an error body on bad data. */
  private write(c: FakeKeapContact, input: Record<string, unknown>, mask: string[] | null): object | null {
    const allowed = (key: string) => input[key] !== undefined && (mask === null || mask.includes(key));
    for (const key of ['given_name', 'family_name'] as const) if (allowed(key)) c[key] = input[key] === null ? '' : String(input[key]);
    if (allowed('phone_numbers') && Array.isArray(input.phone_numbers)) {
      c.phone_numbers = (input.phone_numbers as { number?: unknown; field?: unknown }[]).map((p) => ({ number: String(p.number ?? ''), field: String(p.field ?? 'PHONE1') }));
    }
    if (allowed('custom_fields') && Array.isArray(input.custom_fields)) {
      for (const cf of input.custom_fields as { id?: unknown; content?: unknown }[]) {
        const id = Number(cf.id);
        if (!this.customFields.has(id)) return { message: `Invalid custom field id: ${String(cf.id)}` };
        c.custom_fields.set(id, cf.content === null || cf.content === undefined ? '' : String(cf.content));
      }
    }
    c.last_updated = this.iso();
    return null;
  }

  private admit(): boolean {
    if (this.forced > 0) {
      this.forced--;
      return false;
    }
    const t = Date.now();
    this.tokens = Math.min(this.perMinute, this.tokens + ((t - this.refilledAt) / 60_000) * this.perMinute);
    this.refilledAt = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  private routes(): void {
    const app = this.app;
    const v1 = '/crm/rest/v1';

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      const key = req.headers['x-keap-api-key'];
      const bearer = req.headers.authorization;
      if (key !== this.apiKey && bearer !== `Bearer ${this.apiKey}`) {
        return reply.code(401).send({ message: 'Invalid Access Token' });
      }
      const ok = this.admit();
      reply
        .header('x-keap-product-quota-limit', String(this.perMinute))
        .header('x-keap-product-quota-time-unit', 'minute')
        .header('x-keap-product-quota-interval', '1')
        .header('x-keap-product-quota-available', String(Math.max(0, Math.floor(this.tokens))))
        .header('x-keap-product-quota-expiry-time', String(Date.now() + 60_000));
      if (!ok) {
        this.rateLimited++;
        return reply.code(429).send(THROTTLED);
      }
    });

    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ message: 'Resource not found' }));

    const contactOr404 = (id: string, reply: FastifyReply) => {
      const c = /^\d+$/.test(id) ? this.contacts.get(Number(id)) : undefined;
      if (!c) void reply.code(404).send({ message: `Contact with ID ${id} not found` });
      return c;
    };

    app.get<{ Params: { id: string }; Querystring: { optional_properties?: string } }>(`${v1}/contacts/:id`, async (req, reply) => {
      const c = contactOr404(req.params.id, reply);
      if (!c) return reply;
      return this.json(c, (req.query.optional_properties ?? '').split(',').map((s) => s.trim()));
    });

    // List contacts: email, since (on last_updated), order=id, limit ≤ 1000, offset, optional_properties.
    app.get<{ Querystring: { email?: string; limit?: string; offset?: string; optional_properties?: string; since?: string; order?: string } }>(`${v1}/contacts`, async (req, reply) => {
      let list = [...this.contacts.values()];
      if (req.query.order === 'id') list.sort((a, b) => a.id - b.id);
      if (req.query.email !== undefined) list = list.filter((c) => this.hasEmail(c, req.query.email!));
      if (req.query.since !== undefined) {
        const at = Date.parse(req.query.since);
        if (Number.isNaN(at)) return reply.code(400).send({ message: 'Invalid since' });
        list = list.filter((c) => Date.parse(c.last_updated) >= at);
      }
      const limit = Math.min(1000, Number(req.query.limit ?? 1000) || 1000);
      const offset = Number(req.query.offset ?? 0) || 0;
      const optional = (req.query.optional_properties ?? '').split(',');
      return { contacts: list.slice(offset, offset + limit).map((c) => this.json(c, optional)), count: list.length, next: null, previous: null };
    });

    // Create or update: `duplicate_option` Email matches on e-mail.
    app.put(`${v1}/contacts`, async (req, reply) => {
      const input = (req.body ?? {}) as Record<string, unknown>;
      this.contactWrites.push({ method: 'PUT', query: '', body: input });
      const email = (input.email_addresses as { email?: string }[] | undefined)?.[0]?.email;
      if (!email || !EMAIL.test(email)) return reply.code(400).send({ message: 'Contact must contain at least one valid email address or phone number' });
      if (input.duplicate_option !== 'Email' && input.duplicate_option !== 'EmailAndName') return reply.code(400).send({ message: 'duplicate_option must be Email or EmailAndName' });
      const existing = [...this.contacts.values()].find((c) => this.hasEmail(c, email));
      const c = existing ?? this.create(email);
      const error = this.write(c, input, null);
      if (error) return reply.code(400).send(error);
      return reply.code(existing ? 200 : 201).send(this.json(c, ['custom_fields']));
    });

    app.patch<{ Params: { id: string }; Querystring: { update_mask?: string } }>(`${v1}/contacts/:id`, async (req, reply) => {
      const c = contactOr404(req.params.id, reply);
      if (!c) return reply;
      const input = (req.body ?? {}) as Record<string, unknown>;
      this.contactWrites.push({ method: 'PATCH', query: req.query.update_mask ?? '', body: input });
      const mask = req.query.update_mask ? req.query.update_mask.split(',') : null;
      const error = this.write(c, input, mask);
      if (error) return reply.code(400).send(error);
      return this.json(c, ['custom_fields']);
    });

    app.post<{ Params: { id: string } }>(`${v1}/contacts/:id/tags`, async (req, reply) => {
      const c = contactOr404(req.params.id, reply);
      if (!c) return reply;
      const tagIds = (req.body as { tagIds?: unknown[] } | null)?.tagIds;
      if (!Array.isArray(tagIds) || tagIds.length === 0) return reply.code(400).send({ message: 'tagIds is required' });
      const unknown = tagIds.find((t) => !this.tags.has(Number(t)));
      if (unknown !== undefined) return reply.code(400).send({ message: `Invalid tag id: ${String(unknown)}` });
      for (const t of tagIds) this.link(c, Number(t));
      c.last_updated = this.iso();
      return Object.fromEntries(tagIds.map((t) => [String(t), 'SUCCESS']));
    });

    app.delete<{ Params: { id: string; tagId: string } }>(`${v1}/contacts/:id/tags/:tagId`, async (req, reply) => {
      const c = contactOr404(req.params.id, reply);
      if (!c) return reply;
      c.tag_ids = c.tag_ids.filter((t) => t !== Number(req.params.tagId));
      c.last_updated = this.iso();
      return reply.code(204).send();
    });

    app.get<{ Querystring: { limit?: string; offset?: string; name?: string } }>(`${v1}/tags`, async (req) => {
      let list = [...this.tags.values()];
      if (req.query.name) list = list.filter((t) => t.name.toLowerCase() === req.query.name!.toLowerCase());
      const limit = Math.min(1000, Number(req.query.limit ?? 1000) || 1000);
      const offset = Number(req.query.offset ?? 0) || 0;
      return { tags: list.slice(offset, offset + limit), count: list.length, next: null, previous: null };
    });

    app.post(`${v1}/tags`, async (req, reply) => {
      const name = (req.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name.trim()) return reply.code(400).send({ message: 'name is required' });
      const id = this.nextId.tag++;
      const tag = { id, name: name.trim(), description: '', category: null };
      this.tags.set(id, tag);
      return reply.code(201).send(tag);
    });

    app.get(`${v1}/contactCustomFields`, async () => [...this.customFields.values()]);
  }
}

export async function startFakeKeap(options?: FakeKeapOptions): Promise<FakeKeap> {
  return new FakeKeap(options).listen();
}
