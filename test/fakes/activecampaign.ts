import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake ActiveCampaign API v3: a real HTTP server on 127.0.0.1 (port 0) speaking the documented
 * shapes of every endpoint the adapter uses (developers.activecampaign.com/reference). Ids are
 * strings; `Api-Token` is checked; the documented "5 requests per second per account" is enforced
 * with 429 + `Retry-After` (seconds) + `RateLimit-Limit`/`RateLimit-Remaining`.
 *
 * Tests seed and read state directly (no HTTP, no rate limit) and read call counters.
 */
export interface FakeActiveCampaignOptions {
  apiToken?: string;
  /** Requests allowed per second (a bucket of this size, refilled evenly). Default 5, as documented. */
  rateLimitPerSecond?: number;
  /** Delay before each answer. */
  latencyMs?: number;
  /** The time contacts' cdate/udate are stamped with (a test's controllable clock); default Date.now. */
  now?: () => number;
  /** Honour `include=` side loading on the contact list (default true); false mimics an API that ignores it. */
  sideLoading?: boolean;
}

export interface FakeContact {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  cdate: string;
  udate: string;
}

interface ContactTagRow {
  id: string;
  contact: string;
  tag: string;
  cdate: string;
}

interface TagRow {
  id: string;
  tag: string;
  tagType: 'contact' | 'template';
  description: string;
  cdate: string;
}

interface FieldRow {
  id: string;
  title: string;
  type: string;
  perstag: string;
}

interface FieldValueRow {
  id: string;
  contact: string;
  field: string;
  value: string;
  cdate: string;
  udate: string;
}

export interface SeedContact {
  email: string;
  firstName?: string;
  lastName?: string;
  phone?: string;
  /** Custom field id → value. */
  fieldValues?: Record<string, string>;
  /** Tag names (created when unknown). */
  tags?: string[];
}

export interface ContactState {
  contact: FakeContact;
  tags: string[];
  /** Custom field id → value. */
  fieldValues: Record<string, string>;
}

/** AC's date format: seconds, with an offset. */
const acDate = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '-00:00');

export class FakeActiveCampaign {
  readonly apiToken: string;
  /** Every request received, 429s included. */
  calls = 0;
  /** Requests answered 429. */
  rateLimited = 0;
  /** `"GET /api/3/contacts"` → count (route patterns, not raw URLs). */
  readonly callsByRoute = new Map<string, number>();

  private readonly app: FastifyInstance;
  private readonly contacts = new Map<string, FakeContact>();
  private readonly contactTags = new Map<string, ContactTagRow>();
  private readonly tags = new Map<string, TagRow>();
  private readonly fields = new Map<string, FieldRow>();
  private readonly fieldValues = new Map<string, FieldValueRow>();
  private nextId = { contact: 1, contactTag: 1, tag: 1, field: 1, fieldValue: 1 };
  private rate: number;
  private tokens: number;
  private refilledAt = Date.now();
  private forced: { count: number; retryAfter: string }[] = [];
  private failures: { count: number; status: number }[] = [];
  private latencyMs: number;
  private readonly sideLoading: boolean;
  private readonly now: () => number;
  private baseUrl = '';

  constructor(options: FakeActiveCampaignOptions = {}) {
    this.apiToken = options.apiToken ?? 'test-api-token';
    this.rate = options.rateLimitPerSecond ?? 5;
    this.tokens = this.rate;
    this.latencyMs = options.latencyMs ?? 0;
    this.sideLoading = options.sideLoading ?? true;
    this.now = options.now ?? Date.now;
    this.app = Fastify({ logger: false });
    this.routes();
  }

  /** Base URL of the account, like `https://ACCOUNT.api-us1.com` (no `/api/3`). */
  get url(): string {
    return this.baseUrl;
  }

  async listen(): Promise<this> {
    const address = await this.app.listen({ port: 0, host: '127.0.0.1' });
    this.baseUrl = address;
    return this;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  setRateLimit(perSecond: number): void {
    this.rate = perSecond;
    this.tokens = Math.min(this.tokens, perSecond);
  }

  /** The next `count` requests are refused with 429 and this `Retry-After` (seconds, as AC sends). */
  forceRateLimit(retryAfterSeconds = 1, count = 1): void {
    this.forced.push({ count, retryAfter: String(retryAfterSeconds) });
  }

  /** The next `count` requests fail with this status (e.g. 503, which AC answers when overloaded). */
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

  seedTag(name: string, tagType: 'contact' | 'template' = 'contact'): string {
    const existing = this.tagByName(name);
    if (existing) return existing.id;
    const id = String(this.nextId.tag++);
    this.tags.set(id, { id, tag: name, tagType, description: '', cdate: this.iso() });
    return id;
  }

  deleteTag(id: string): void {
    this.tags.delete(id);
    for (const [ctId, ct] of this.contactTags) if (ct.tag === id) this.contactTags.delete(ctId);
  }

  seedField(title: string, perstag: string, type = 'text'): string {
    const id = String(this.nextId.field++);
    this.fields.set(id, { id, title, type, perstag: perstag.toUpperCase() });
    return id;
  }

  seedContact(seed: SeedContact): string {
    const contact = this.createContact(seed.email);
    Object.assign(contact, { firstName: seed.firstName ?? '', lastName: seed.lastName ?? '', phone: seed.phone ?? '' });
    for (const [field, value] of Object.entries(seed.fieldValues ?? {})) this.setFieldValue(contact.id, field, value);
    for (const name of seed.tags ?? []) this.link(contact.id, this.seedTag(name));
    return contact.id;
  }

  /** As a CRM user would do in the AC UI: add a tag to a contact. */
  tagContact(contactId: string, name: string): void {
    this.link(contactId, this.seedTag(name));
  }

  contactState(id: string): ContactState | null {
    const contact = this.contacts.get(id);
    if (!contact) return null;
    const tags = [...this.contactTags.values()].filter((ct) => ct.contact === id).map((ct) => this.tags.get(ct.tag)!.tag);
    const fieldValues: Record<string, string> = {};
    for (const fv of this.fieldValues.values()) if (fv.contact === id) fieldValues[fv.field] = fv.value;
    return { contact: { ...contact }, tags, fieldValues };
  }

  contactCount(): number {
    return this.contacts.size;
  }

  contactIdsByEmail(email: string): string[] {
    return [...this.contacts.values()].filter((c) => c.email.toLowerCase() === email.toLowerCase()).map((c) => c.id);
  }

  tagNames(): string[] {
    return [...this.tags.values()].map((t) => t.tag);
  }

  // ---- internals ----

  private iso(): string {
    return acDate(this.now());
  }

  /** Tag links count as a change of the contact (udate moves): assumed, see the adapter's README. */
  private touch(contact: string): void {
    const c = this.contacts.get(contact);
    if (c) c.udate = this.iso();
  }

  private tagByName(name: string): TagRow | undefined {
    const key = name.trim().toLowerCase();
    return [...this.tags.values()].find((t) => t.tag.toLowerCase() === key);
  }

  private createContact(email: string): FakeContact {
    const id = String(this.nextId.contact++);
    const now = this.iso();
    const contact: FakeContact = { id, email, firstName: '', lastName: '', phone: '', cdate: now, udate: now };
    this.contacts.set(id, contact);
    return contact;
  }

  private link(contact: string, tag: string): ContactTagRow {
    const existing = [...this.contactTags.values()].find((ct) => ct.contact === contact && ct.tag === tag);
    if (existing) return existing;
    const id = String(this.nextId.contactTag++);
    const row = { id, contact, tag, cdate: this.iso() };
    this.contactTags.set(id, row);
    this.touch(contact);
    return row;
  }

  private setFieldValue(contact: string, field: string, value: string): FieldValueRow {
    const now = this.iso();
    const existing = [...this.fieldValues.values()].find((fv) => fv.contact === contact && fv.field === field);
    if (existing) {
      existing.value = value;
      existing.udate = now;
      return existing;
    }
    const id = String(this.nextId.fieldValue++);
    const row = { id, contact, field, value, cdate: now, udate: now };
    this.fieldValues.set(id, row);
    return row;
  }

  private contactJson(c: FakeContact, sideLoaded = false) {
    const base = `${this.baseUrl}/api/3/contacts/${c.id}`;
    const json: Record<string, unknown> = {
      cdate: c.cdate,
      email: c.email,
      phone: c.phone,
      firstName: c.firstName,
      lastName: c.lastName,
      orgid: '0',
      orgname: '',
      deleted: '0',
      anonymized: '0',
      udate: c.udate,
      links: { contactTags: `${base}/contactTags`, fieldValues: `${base}/fieldValues` },
      id: c.id,
      organization: null,
    };
    if (sideLoaded) {
      json.contactTags = this.tagsOf(c.id).map((ct) => ct.id);
      json.fieldValues = this.valuesOf(c.id).map((fv) => fv.id);
    }
    return json;
  }

  private tagsOf(contactId: string) {
    return [...this.contactTags.values()].filter((ct) => ct.contact === contactId);
  }

  private valuesOf(contactId: string) {
    return [...this.fieldValues.values()].filter((fv) => fv.contact === contactId);
  }

  private contactTagJson(ct: ContactTagRow) {
    const base = `${this.baseUrl}/api/3/contactTags/${ct.id}`;
    return { contact: ct.contact, tag: ct.tag, cdate: ct.cdate, created_timestamp: ct.cdate, links: { contact: `${base}/contact`, tag: `${base}/tag` }, id: ct.id };
  }

  private tagJson(t: TagRow) {
    return { tagType: t.tagType, tag: t.tag, description: t.description, cdate: t.cdate, links: { contactGoalTags: `${this.baseUrl}/api/3/tags/${t.id}/contactGoalTags` }, id: t.id };
  }

  private fieldValueJson(fv: FieldValueRow) {
    const base = `${this.baseUrl}/api/3/fieldValues/${fv.id}`;
    return { contact: fv.contact, field: fv.field, value: fv.value, cdate: fv.cdate, udate: fv.udate, links: { owner: `${base}/owner`, field: `${base}/field` }, id: fv.id, owner: fv.contact };
  }

  private fieldJson(f: FieldRow) {
    return { title: f.title, descript: '', type: f.type, isrequired: '0', perstag: f.perstag, defval: '', show_in_list: '0', rows: '0', cols: '0', visible: '1', service: '', ordernum: f.id, links: {}, id: f.id };
  }

  /** A bucket of `rate` tokens refilled at `rate`/s: "5 requests per second per account". */
  private admit(): { ok: true; remaining: number } | { ok: false; retryAfter: string } {
    const forced = this.forced[0];
    if (forced) {
      if (--forced.count <= 0) this.forced.shift();
      return { ok: false, retryAfter: forced.retryAfter };
    }
    const now = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, retryAfter: String(Math.max(1, Math.ceil((1 - this.tokens) / this.rate))) };
  }

  private routes(): void {
    const app = this.app;

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      const admitted = this.admit();
      reply.header('RateLimit-Limit', String(this.rate));
      if (!admitted.ok) {
        this.rateLimited++;
        reply.header('Retry-After', admitted.retryAfter).header('RateLimit-Remaining', '0').header('RateLimit-Reset', admitted.retryAfter);
        return reply.code(429).send({ message: 'Too Many Requests' });
      }
      reply.header('RateLimit-Remaining', String(admitted.remaining));
      const failure = this.failures[0];
      if (failure) {
        if (--failure.count <= 0) this.failures.shift();
        return reply.code(failure.status).send({ message: 'Service Unavailable' });
      }
      const token = req.headers['api-token'];
      if (token !== this.apiToken) {
        return reply.code(403).send({ message: 'You are not authorized to access this resource' });
      }
    });

    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ message: 'Not Found' }));

    // List, search and filter contacts: ids[] / ids, email, limit/offset, include (side loading).
    app.get('/api/3/contacts', async (req, reply) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const ids = [...q.getAll('ids[]'), ...q.getAll('ids').flatMap((v) => v.split(','))].map((s) => s.trim()).filter(Boolean);
      const email = q.get('email');
      let list = [...this.contacts.values()].sort((a, b) => Number(a.id) - Number(b.id));
      if (ids.length > 0) list = list.filter((c) => ids.includes(c.id));
      if (email !== null) list = list.filter((c) => c.email.toLowerCase() === email.toLowerCase());
      // The listing filters of "List, search, and filter contacts": tagid, id_greater, filters[updated_after].
      const tagid = q.get('tagid');
      if (tagid !== null) list = list.filter((c) => this.tagsOf(c.id).some((ct) => ct.tag === tagid));
      const idGreater = q.get('id_greater');
      if (idGreater !== null) list = list.filter((c) => Number(c.id) > Number(idGreater));
      const updatedAfter = q.get('filters[updated_after]');
      if (updatedAfter !== null) {
        const since = Date.parse(updatedAfter);
        if (Number.isNaN(since)) return reply.code(400).send({ message: 'filters[updated_after] is not a date' });
        list = list.filter((c) => Date.parse(c.udate) >= since);
      }
      if (q.get('orders[id]') === 'DESC') list.reverse();
      const total = list.length;
      const limit = Math.min(100, Number(q.get('limit') ?? 20) || 20);
      const offset = Number(q.get('offset') ?? 0) || 0;
      list = list.slice(offset, offset + limit);
      const include = this.sideLoading ? (q.get('include') ?? '').split(',').map((s) => s.trim()) : [];
      const body: Record<string, unknown> = {};
      if (include.includes('contactTags')) body.contactTags = list.flatMap((c) => this.tagsOf(c.id)).map((ct) => this.contactTagJson(ct));
      if (include.includes('fieldValues')) body.fieldValues = list.flatMap((c) => this.valuesOf(c.id)).map((fv) => this.fieldValueJson(fv));
      body.contacts = list.map((c) => this.contactJson(c, include.includes('contactTags') || include.includes('fieldValues')));
      body.meta = { total: String(total), page_input: { segmentid: null, formid: 0, listid: 0, tagid: 0, limit, offset, search: null, sort: null, seriesid: 0, waitid: 0, status: -1, forceQuery: 0, cacheid: '' } };
      return body;
    });

    app.get<{ Params: { id: string } }>('/api/3/contacts/:id', async (req, reply) => {
      const c = this.contacts.get(req.params.id);
      if (!c) return reply.code(404).send({ message: `No Result found for Subscriber with id ${req.params.id}` });
      return {
        contactAutomations: [],
        contactLists: [],
        deals: [],
        fieldValues: this.valuesOf(c.id).map((fv) => this.fieldValueJson(fv)),
        geoIps: [],
        accountContacts: [],
        contact: this.contactJson(c),
      };
    });

    app.get<{ Params: { id: string } }>('/api/3/contacts/:id/contactTags', async (req, reply) => {
      if (!this.contacts.has(req.params.id)) return reply.code(404).send({ message: `No Result found for Subscriber with id ${req.params.id}` });
      return { contactTags: this.tagsOf(req.params.id).map((ct) => this.contactTagJson(ct)) };
    });

    app.get<{ Params: { id: string } }>('/api/3/contacts/:id/fieldValues', async (req, reply) => {
      if (!this.contacts.has(req.params.id)) return reply.code(404).send({ message: `No Result found for Subscriber with id ${req.params.id}` });
      return { fieldValues: this.valuesOf(req.params.id).map((fv) => this.fieldValueJson(fv)) };
    });

    // Sync a contact's data: create, or update the contact with this e-mail.
    app.post('/api/3/contact/sync', async (req, reply) => {
      const input = (req.body as { contact?: Record<string, unknown> } | null)?.contact;
      const email = typeof input?.email === 'string' ? input.email.trim() : '';
      if (!input || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        return reply.code(422).send({ errors: [{ title: 'Email address is invalid', detail: '', code: 'email_invalid', source: { pointer: '/data/attributes/email' } }] });
      }
      const existing = [...this.contacts.values()].find((c) => c.email.toLowerCase() === email.toLowerCase());
      const contact = existing ?? this.createContact(email);
      const written = this.writeContact(contact, input);
      if (written) return reply.code(422).send(written);
      return reply.code(existing ? 200 : 201).send({ fieldValues: this.valuesOf(contact.id).map((fv) => this.fieldValueJson(fv)), contact: this.contactJson(contact) });
    });

    app.put<{ Params: { id: string } }>('/api/3/contacts/:id', async (req, reply) => {
      const contact = this.contacts.get(req.params.id);
      if (!contact) return reply.code(404).send({ message: `No Result found for Subscriber with id ${req.params.id}` });
      const input = (req.body as { contact?: Record<string, unknown> } | null)?.contact ?? {};
      const written = this.writeContact(contact, input);
      if (written) return reply.code(422).send(written);
      return { fieldValues: this.valuesOf(contact.id).map((fv) => this.fieldValueJson(fv)), contact: this.contactJson(contact) };
    });

    app.post('/api/3/fieldValues', async (req, reply) => {
      const input = (req.body as { fieldValue?: Record<string, unknown> } | null)?.fieldValue;
      const contact = String(input?.contact ?? '');
      const field = String(input?.field ?? '');
      if (!input || input.value === undefined) return reply.code(422).send({ errors: [{ title: 'Missing attribute', source: { pointer: '/data/attributes/value' } }] });
      if (!this.contacts.has(contact)) return reply.code(404).send({ message: `No Result found for Subscriber with id ${contact}` });
      if (!this.fields.has(field)) return reply.code(422).send({ errors: [{ title: 'Field not found', detail: `No field with id ${field}` }] });
      const row = this.setFieldValue(contact, field, String(input.value ?? ''));
      this.contacts.get(contact)!.udate = this.iso();
      return { contacts: [this.contactJson(this.contacts.get(contact)!)], fieldValue: this.fieldValueJson(row) };
    });

    app.post('/api/3/contactTags', async (req, reply) => {
      const input = (req.body as { contactTag?: Record<string, unknown> } | null)?.contactTag;
      if (!input?.contact) return reply.code(422).send({ errors: [{ status: 422, title: 'Missing attribute', source: { pointer: '/data/attributes/contact' } }] });
      if (!input.tag) return reply.code(422).send({ errors: [{ status: 422, title: 'Missing attribute', source: { pointer: '/data/attributes/tag' } }] });
      const contact = String(input.contact);
      const tag = String(input.tag);
      if (!this.contacts.has(contact)) return reply.code(404).send({ errors: [{ status: 404, title: 'Not Found', detail: 'Contact not found' }] });
      if (!this.tags.has(tag)) return reply.code(404).send({ errors: [{ status: 404, title: 'Not Found', detail: 'Tag not found' }] });
      const before = this.contactTags.size;
      const row = this.link(contact, tag);
      this.contacts.get(contact)!.udate = this.iso();
      return reply.code(this.contactTags.size > before ? 201 : 200).send({ contactTag: this.contactTagJson(row) });
    });

    app.delete<{ Params: { id: string } }>('/api/3/contactTags/:id', async (req, reply) => {
      const row = this.contactTags.get(req.params.id);
      if (!row) return reply.code(404).send({ message: `No Result found for ContactTag with id ${req.params.id}` });
      this.contactTags.delete(req.params.id);
      this.touch(row.contact);
      return {};
    });

    // List all tags: search (contains), filters[search][eq], orders[search]=weight, limit/offset.
    app.get('/api/3/tags', async (req) => {
      const q = new URL(req.url, 'http://x').searchParams;
      let list = [...this.tags.values()];
      const search = q.get('search')?.toLowerCase();
      if (search) list = list.filter((t) => t.tag.toLowerCase().includes(search));
      const eq = q.get('filters[search][eq]')?.toLowerCase();
      if (eq) list = list.filter((t) => t.tag.toLowerCase() === eq);
      if (search && q.get('orders[search]') === 'weight') {
        const weight = (t: TagRow) => (t.tag.toLowerCase() === search ? 0 : t.tag.toLowerCase().startsWith(search) ? 1 : 2);
        list.sort((a, b) => weight(a) - weight(b));
      }
      const limit = Math.min(100, Number(q.get('limit') ?? 20) || 20);
      const offset = Number(q.get('offset') ?? 0) || 0;
      return { tags: list.slice(offset, offset + limit).map((t) => this.tagJson(t)), meta: { total: String(list.length) } };
    });

    app.get<{ Params: { id: string } }>('/api/3/tags/:id', async (req, reply) => {
      const tag = this.tags.get(req.params.id);
      if (!tag) return reply.code(404).send({ message: `No Result found for Tag with id ${req.params.id}` });
      return { tag: this.tagJson(tag) };
    });

    app.post('/api/3/tags', async (req, reply) => {
      const input = (req.body as { tag?: Record<string, unknown> } | null)?.tag;
      const name = typeof input?.tag === 'string' ? input.tag.trim() : '';
      if (!name || name.includes(',')) return reply.code(422).send({ errors: [{ title: 'The tag name is invalid', detail: 'Tag names are required and may not contain commas', source: { pointer: '/data/attributes/tag' } }] });
      if (this.tagByName(name)) return reply.code(422).send({ errors: [{ title: 'Duplicate entry', detail: `The tag "${name}" already exists`, code: 'duplicate', source: { pointer: '/data/attributes/tag' } }] });
      const tagType = input?.tagType === 'template' ? 'template' : 'contact';
      const id = this.seedTag(name, tagType);
      return reply.code(201).send({ tag: this.tagJson(this.tags.get(id)!) });
    });

    app.get('/api/3/fields', async (req) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const list = [...this.fields.values()];
      const limit = Math.min(100, Number(q.get('limit') ?? 20) || 20);
      const offset = Number(q.get('offset') ?? 0) || 0;
      return { fieldOptions: [], fieldRels: [], fields: list.slice(offset, offset + limit).map((f) => this.fieldJson(f)), meta: { total: String(list.length) } };
    });
  }

  /** Applies standard keys and `fieldValues` of a contact body; returns an error body on bad data. */
  private writeContact(contact: FakeContact, input: Record<string, unknown>): object | null {
    const values = Array.isArray(input.fieldValues) ? (input.fieldValues as { field?: unknown; value?: unknown }[]) : [];
    const unknown = values.find((fv) => !this.fields.has(String(fv.field)));
    if (unknown) return { errors: [{ title: 'Field not found', detail: `No field with id ${String(unknown.field)}` }] };
    if (typeof input.email === 'string' && input.email.trim()) contact.email = input.email.trim();
    for (const key of ['firstName', 'lastName', 'phone'] as const) {
      if (input[key] !== undefined) contact[key] = input[key] === null ? '' : String(input[key]);
    }
    for (const fv of values) this.setFieldValue(contact.id, String(fv.field), fv.value === null || fv.value === undefined ? '' : String(fv.value));
    contact.udate = this.iso();
    return null;
  }
}

export async function startFakeActiveCampaign(options?: FakeActiveCampaignOptions): Promise<FakeActiveCampaign> {
  return new FakeActiveCampaign(options).listen();
}
