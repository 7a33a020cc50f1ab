import { createHash, createHmac, randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A fake HubSpot API: a real HTTP server on 127.0.0.1 (port 0) speaking the documented shapes of
 * every endpoint the adapter uses — CRM v3 contacts (batch read, read by e-mail, batch upsert,
 * update), contact properties, and Lists v3 (search, by name, create, membership add/remove,
 * memberships batch read). `Authorization: Bearer <token>` is checked (401 otherwise, HubSpot's
 * error body); a rolling-window rate limit answers 429 with HubSpot's body and
 * `X-HubSpot-RateLimit-*` headers and, like the recorded live 429, **no Retry-After** (unless
 * `retryAfterSeconds` is set).
 *
 * Tests and benchmarks seed and read state directly (no HTTP, no rate limit), build and sign
 * webhook deliveries as HubSpot would, and read call counters.
 *
 * Benchmark, burst of 1,000 contacts:
 * ```ts
 * const fake = await startFakeHubSpot({ token: 'pat-bench', rateLimit: { requests: 100, perMs: 10_000 }, latencyMs: 100 });
 * const ids = fake.seedContacts(1000, (i) => ({ email: `u${i}@example.com`, properties: { firstname: `U${i}` }, lists: ['Customer'] }));
 * for (const body of fake.webhookBodies(ids, { perContact: 10 })) {           // JSON arrays of ≤ 100 events
 *   const headers = fake.signWebhook({ secret, url: `${publicUrl}/?wpf_action=update&access_key=KEY`, body });
 *   await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
 * }
 * // crmsync: CRMSYNC_CRM=hubspot CRMSYNC_CRM_URL=fake.url CRMSYNC_CRM_API_KEY=fake.token CRMSYNC_CRM_WEBHOOK_SECRET=secret
 * fake.stats(); // { calls, rateLimited, byRoute: { 'POST /crm/v3/objects/contacts/batch/read': 10, … } }
 * ```
 */
export interface FakeHubSpotOptions {
  /** The private app access token expected as `Authorization: Bearer`. Default `pat-test-token`. */
  token?: string;
  /** Requests allowed per rolling window. Default 100 per 10,000 ms (private apps, Free/Starter). */
  rateLimit?: { requests: number; perMs: number };
  /** Delay before each answer (ms). */
  latencyMs?: number;
  /** Send `Retry-After` (seconds) on 429s. HubSpot often does not; default: not sent. */
  retryAfterSeconds?: number;
  /** The time records are stamped with (`lastmodifieddate`…; a test's controllable clock). Default Date.now. */
  now?: () => number;
}

export interface SeedHsContact {
  email: string;
  /** Property internal name → value (`firstname`, `lastname`, `phone`, seeded custom properties). */
  properties?: Record<string, string | null>;
  /** Static list names (created when unknown). */
  lists?: string[];
}

export interface HsContactState {
  id: string;
  properties: Record<string, string>;
  /** Names of the lists the contact belongs to. */
  lists: string[];
}

interface ContactRow {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

interface ListRow {
  listId: string;
  name: string;
  processingType: 'MANUAL' | 'DYNAMIC' | 'SNAPSHOT';
  objectTypeId: string;
  listVersion: number;
  createdAt: string;
  updatedAt: string;
  /** record id → first added ISO time */
  members: Map<string, string>;
}

interface PropertyRow {
  name: string;
  label: string;
  type: string;
  fieldType: string;
  hidden?: boolean;
}

const BATCH_LIMIT = 100;

export class FakeHubSpot {
  readonly token: string;
  /** Every request received, 401s and 429s included. */
  calls = 0;
  /** Requests answered 429. */
  rateLimited = 0;
  /** `"POST /crm/v3/objects/contacts/batch/read"` → count (route patterns, not raw URLs). */
  readonly callsByRoute = new Map<string, number>();

  private readonly app: FastifyInstance;
  private readonly contacts = new Map<string, ContactRow>();
  private readonly byEmail = new Map<string, string>();
  private readonly lists = new Map<string, ListRow>();
  private readonly properties = new Map<string, PropertyRow>();
  private nextContactId = 1001;
  private nextListId = 1;
  private limit: { requests: number; perMs: number };
  private window: number[] = [];
  private forced = 0;
  private failures: { count: number; status: number }[] = [];
  private latencyMs: number;
  private readonly retryAfterSeconds: number | undefined;
  private readonly clock: () => number;
  private baseUrl = '';

  constructor(options: FakeHubSpotOptions = {}) {
    this.token = options.token ?? 'pat-test-token';
    this.limit = options.rateLimit ?? { requests: 100, perMs: 10_000 };
    this.latencyMs = options.latencyMs ?? 0;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.clock = options.now ?? Date.now;
    for (const [name, label] of [['email', 'Email'], ['firstname', 'First Name'], ['lastname', 'Last Name'], ['phone', 'Phone Number'], ['company', 'Company Name']] as const) {
      this.properties.set(name, { name, label, type: 'string', fieldType: 'text' });
    }
    for (const name of ['createdate', 'lastmodifieddate', 'hs_object_id']) this.properties.set(name, { name, label: name, type: 'datetime', fieldType: 'date', hidden: false });
    this.app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024 });
    this.routes();
  }

  /** Base URL, as `https://api.hubapi.com` would be configured. */
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

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  setRateLimit(limit: { requests: number; perMs: number }): void {
    this.limit = limit;
    this.window = [];
  }

  /** The next `count` requests are refused with 429 (HubSpot's body, no Retry-After unless configured). */
  forceRateLimit(count = 1): void {
    this.forced += count;
  }

  /** The next `count` requests fail with this status (e.g. 502/503/504 on HubSpot's edge). */
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

  stats(): { calls: number; rateLimited: number; byRoute: Record<string, number> } {
    return { calls: this.calls, rateLimited: this.rateLimited, byRoute: Object.fromEntries(this.callsByRoute) };
  }

  // ---- state helpers (no HTTP, no rate limit) ----

  seedProperty(name: string, label = name, type = 'string'): void {
    this.properties.set(name, { name, label, type, fieldType: 'text' });
  }

  seedList(name: string, processingType: ListRow['processingType'] = 'MANUAL', objectTypeId = '0-1'): string {
    const existing = this.listByName(name);
    if (existing) return existing.listId;
    const listId = String(this.nextListId++);
    const at = this.iso();
    this.lists.set(listId, { listId, name, processingType, objectTypeId, listVersion: 1, createdAt: at, updatedAt: at, members: new Map() });
    return listId;
  }

  deleteList(listId: string): void {
    this.lists.delete(listId);
  }

  seedContact(seed: SeedHsContact): string {
    const row = this.createContact(seed.email);
    for (const [key, value] of Object.entries(seed.properties ?? {})) if (value !== null && value !== '') row.properties[key] = value;
    for (const name of seed.lists ?? []) this.addToList(row.id, name);
    return row.id;
  }

  /** Bulk seeding for benchmarks: `n` contacts (default `bulk<i>@example.com`, no lists). */
  seedContacts(n: number, make: (i: number) => SeedHsContact = (i) => ({ email: `bulk${i}@example.com` })): string[] {
    return Array.from({ length: n }, (_, i) => this.seedContact(make(i)));
  }

  /** As a HubSpot user (or, for an active list, HubSpot itself) would: add a contact to a list (a static one is created when unknown). */
  addToList(contactId: string, listName: string): void {
    const list = this.lists.get(this.seedList(listName))!;
    if (!list.members.has(contactId)) list.members.set(contactId, this.iso());
  }

  removeFromList(contactId: string, listName: string): void {
    this.listByName(listName)?.members.delete(contactId);
  }

  /** As a HubSpot user would: edit properties (null clears). */
  editContact(contactId: string, properties: Record<string, string | null>): void {
    const row = this.contacts.get(contactId);
    if (!row) throw new Error(`no contact ${contactId}`);
    this.write(row, properties);
  }

  contactState(id: string): HsContactState | null {
    const row = this.contacts.get(id);
    if (!row) return null;
    return { id, properties: { ...row.properties }, lists: this.listsOf(id).map((l) => l.name) };
  }

  contactIdByEmail(email: string): string | null {
    return this.byEmail.get(email.trim().toLowerCase()) ?? null;
  }

  contactCount(): number {
    return this.contacts.size;
  }

  listNames(): string[] {
    return [...this.lists.values()].map((l) => l.name);
  }

  // ---- webhooks as HubSpot sends them ----

  /** Webhooks API events (one per contact and repetition), as HubSpot puts them in a delivery. */
  webhookEvents(ids: readonly string[], options: { type?: string; perContact?: number; propertyName?: string } = {}): object[] {
    const type = options.type ?? 'contact.propertyChange';
    const events: object[] = [];
    let eventId = 1;
    for (let r = 0; r < (options.perContact ?? 1); r++) {
      for (const id of ids) {
        const event: Record<string, unknown> = {
          eventId: eventId++, subscriptionId: 12345, portalId: 62515, appId: 54321, occurredAt: Date.now(),
          subscriptionType: type, attemptNumber: 0, objectId: Number(id), changeSource: 'CRM_UI',
        };
        if (type.endsWith('propertyChange')) Object.assign(event, { propertyName: options.propertyName ?? 'firstname', propertyValue: 'x' });
        if (type.endsWith('creation')) event.changeFlag = 'NEW';
        events.push(event);
      }
    }
    return events;
  }

  /** Delivery bodies: JSON arrays of at most `batchSize` (default 100) events. */
  webhookBodies(ids: readonly string[], options: { type?: string; perContact?: number; batchSize?: number } = {}): string[] {
    const events = this.webhookEvents(ids, options);
    const size = Math.min(options.batchSize ?? BATCH_LIMIT, BATCH_LIMIT);
    const bodies: string[] = [];
    for (let i = 0; i < events.length; i += size) bodies.push(JSON.stringify(events.slice(i, i + size)));
    return bodies;
  }

  /**
   * The signature headers HubSpot puts on a delivery, computed here independently of the adapter:
   * v1 (`X-HubSpot-Signature`, hex SHA-256 of secret + body) and v3 (base64 HMAC-SHA256 of
   * method + URI + body + timestamp, `X-HubSpot-Request-Timestamp` in ms).
   */
  signWebhook(input: { secret: string; url: string; body: string | Buffer; method?: string; timestamp?: number }): Record<string, string> {
    return signHubSpotWebhook(input);
  }

  // ---- internals ----

  private listByName(name: string): ListRow | undefined {
    const key = name.trim().toLowerCase();
    return [...this.lists.values()].find((l) => l.name.toLowerCase() === key);
  }

  private iso(): string {
    return new Date(this.clock()).toISOString();
  }

  private listsOf(contactId: string): ListRow[] {
    return [...this.lists.values()].filter((l) => l.members.has(contactId));
  }

  private createContact(email: string): ContactRow {
    const id = String(this.nextContactId++);
    const at = this.iso();
    const row: ContactRow = { id, properties: { email: email.trim().toLowerCase(), hs_object_id: id, createdate: at, lastmodifieddate: at }, createdAt: at, updatedAt: at };
    this.contacts.set(id, row);
    this.byEmail.set(email.trim().toLowerCase(), id);
    return row;
  }

  private write(row: ContactRow, properties: Record<string, string | null | undefined>): void {
    for (const [key, value] of Object.entries(properties)) {
      if (value === null || value === undefined || value === '') delete row.properties[key];
      else if (key === 'email') {
        this.byEmail.delete(row.properties.email ?? '');
        row.properties.email = value.trim().toLowerCase();
        this.byEmail.set(row.properties.email, row.id);
      } else row.properties[key] = value;
    }
    row.updatedAt = this.iso();
    row.properties.lastmodifieddate = row.updatedAt;
  }

  private contactJson(row: ContactRow, requested: readonly string[]) {
    const properties: Record<string, string | null> = {};
    for (const key of new Set([...requested, 'createdate', 'hs_object_id', 'lastmodifieddate'])) properties[key] = row.properties[key] ?? null;
    return { id: row.id, properties, createdAt: row.createdAt, updatedAt: row.updatedAt, archived: false };
  }

  private listJson(l: ListRow) {
    return {
      listId: l.listId, listVersion: l.listVersion, name: l.name, objectTypeId: l.objectTypeId, processingType: l.processingType,
      processingStatus: 'COMPLETE', createdAt: l.createdAt, updatedAt: l.updatedAt, filtersUpdatedAt: l.updatedAt,
      additionalProperties: { hs_list_size: String(l.members.size) },
    };
  }

  /** Unknown properties are refused as HubSpot does (400 VALIDATION_ERROR, PROPERTY_DOESNT_EXIST). */
  private invalidProperties(properties: Record<string, unknown>): object | null {
    const unknown = Object.keys(properties).filter((p) => !this.properties.has(p));
    if (unknown.length === 0) return null;
    const details = unknown.map((name) => ({ isValid: false, message: `Property "${name}" does not exist`, error: 'PROPERTY_DOESNT_EXIST', name }));
    return error('VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(details)}`);
  }

  /** Rolling window: `requests` per `perMs`, as HubSpot's TEN_SECONDLY_ROLLING / secondly limits. */
  private admit(): { ok: boolean; remaining: number } {
    if (this.forced > 0) {
      this.forced--;
      return { ok: false, remaining: 0 };
    }
    const t = Date.now();
    while (this.window.length > 0 && this.window[0]! <= t - this.limit.perMs) this.window.shift();
    if (this.window.length >= this.limit.requests) return { ok: false, remaining: 0 };
    this.window.push(t);
    return { ok: true, remaining: this.limit.requests - this.window.length };
  }

  private routes(): void {
    const app = this.app;

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      this.calls++;
      const route = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      this.callsByRoute.set(route, (this.callsByRoute.get(route) ?? 0) + 1);
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        return reply.code(401).send(error('INVALID_AUTHENTICATION', 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview'));
      }
      const admitted = this.admit();
      reply.header('X-HubSpot-RateLimit-Max', String(this.limit.requests));
      reply.header('X-HubSpot-RateLimit-Remaining', String(admitted.remaining));
      reply.header('X-HubSpot-RateLimit-Interval-Milliseconds', String(this.limit.perMs));
      if (!admitted.ok) {
        this.rateLimited++;
        if (this.retryAfterSeconds !== undefined) reply.header('Retry-After', String(this.retryAfterSeconds));
        const secondly = this.limit.perMs <= 1000;
        return reply.code(429).send({
          status: 'error',
          message: secondly ? 'You have reached your secondly limit.' : 'You have reached your ten_secondly_rolling limit.',
          errorType: 'RATE_LIMIT',
          correlationId: randomUUID(),
          policyName: secondly ? 'SECONDLY' : 'TEN_SECONDLY_ROLLING',
          category: 'RATE_LIMITS',
        });
      }
      const failure = this.failures[0];
      if (failure) {
        if (--failure.count <= 0) this.failures.shift();
        return reply.code(failure.status).send(error('INTERNAL_ERROR', 'internal error'));
      }
    });

    app.post('/crm/v3/objects/contacts/batch/read', async (req, reply) => {
      const body = (req.body ?? {}) as { inputs?: { id?: unknown }[]; properties?: string[]; idProperty?: string };
      const inputs = body.inputs ?? [];
      if (inputs.length > BATCH_LIMIT) return reply.code(400).send(error('VALIDATION_ERROR', `Too many inputs: ${inputs.length} (maximum ${BATCH_LIMIT})`));
      const started = this.iso();
      const results = [];
      const missing: string[] = [];
      for (const input of inputs) {
        const key = String(input.id ?? '');
        const row = body.idProperty === 'email' ? this.contacts.get(this.contactIdByEmail(key) ?? '') : this.contacts.get(key);
        if (row) results.push(this.contactJson(row, body.properties ?? []));
        else missing.push(key);
      }
      const answer: Record<string, unknown> = { status: 'COMPLETE', results, startedAt: started, completedAt: this.iso() };
      if (missing.length === 0) return answer;
      answer.numErrors = 1;
      answer.errors = [{ status: 'error', category: 'OBJECT_NOT_FOUND', message: 'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.', context: { ids: missing } }];
      return reply.code(207).send(answer);
    });

    app.get('/crm/v3/objects/contacts/:contactId', async (req, reply) => {
      const { contactId } = req.params as { contactId: string };
      const q = new URL(req.url, 'http://x').searchParams;
      const id = q.get('idProperty') === 'email' ? this.contactIdByEmail(contactId) : contactId;
      const row = this.contacts.get(id ?? '');
      if (!row) return reply.code(404).send({ ...error('OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.'), context: { id: [contactId] } });
      return this.contactJson(row, (q.get('properties') ?? '').split(',').filter(Boolean));
    });

    app.post('/crm/v3/objects/contacts/batch/upsert', async (req, reply) => {
      const inputs = ((req.body ?? {}) as { inputs?: { id?: string; idProperty?: string; properties?: Record<string, string> }[] }).inputs ?? [];
      if (inputs.length > BATCH_LIMIT) return reply.code(400).send(error('VALIDATION_ERROR', `Too many inputs (maximum ${BATCH_LIMIT})`));
      for (const input of inputs) {
        if (input.idProperty !== 'email' || !input.id) return reply.code(400).send(error('VALIDATION_ERROR', 'idProperty must be a unique property (email) and id its value'));
        const invalid = this.invalidProperties(input.properties ?? {});
        if (invalid) return reply.code(400).send(invalid);
      }
      const started = this.iso();
      const results = inputs.map((input) => {
        let row = this.contacts.get(this.contactIdByEmail(input.id!) ?? '');
        const created = !row;
        row ??= this.createContact(input.id!);
        this.write(row, input.properties ?? {});
        return { ...this.contactJson(row, Object.keys(input.properties ?? {})), new: created };
      });
      return { status: 'COMPLETE', results, startedAt: started, completedAt: this.iso() };
    });

    app.patch('/crm/v3/objects/contacts/:contactId', async (req, reply) => {
      const { contactId } = req.params as { contactId: string };
      const row = this.contacts.get(contactId);
      if (!row) return reply.code(404).send(error('OBJECT_NOT_FOUND', 'resource not found'));
      const properties = ((req.body ?? {}) as { properties?: Record<string, string> }).properties ?? {};
      const invalid = this.invalidProperties(properties);
      if (invalid) return reply.code(400).send(invalid);
      this.write(row, properties);
      return this.contactJson(row, Object.keys(properties));
    });

    app.get('/crm/v3/properties/contacts', async () => ({
      results: [...this.properties.values()].map((p) => ({ ...p, groupName: 'contactinformation', description: '', options: [], displayOrder: -1, hidden: p.hidden ?? false, formField: true })),
    }));

    app.post('/crm/v3/lists/search', async (req) => {
      const body = (req.body ?? {}) as { query?: string; offset?: number; count?: number; processingTypes?: string[] };
      const count = Math.min(500, Math.max(1, Number(body.count ?? 20) || 20));
      const offset = Math.max(0, Number(body.offset ?? 0) || 0);
      const query = (body.query ?? '').toLowerCase();
      const all = [...this.lists.values()].filter((l) => l.name.toLowerCase().includes(query) && (!body.processingTypes?.length || body.processingTypes.includes(l.processingType)));
      const page = all.slice(offset, offset + count);
      return { lists: page.map((l) => this.listJson(l)), hasMore: offset + page.length < all.length, offset: offset + page.length, total: all.length };
    });

    app.get('/crm/v3/lists/object-type-id/:objectTypeId/name/:listName', async (req, reply) => {
      const { objectTypeId, listName } = req.params as { objectTypeId: string; listName: string };
      const list = this.listByName(listName);
      if (!list || list.objectTypeId !== objectTypeId) return reply.code(404).send(error('OBJECT_NOT_FOUND', `List with name ${listName} does not exist.`));
      return { list: this.listJson(list) };
    });

    app.post('/crm/v3/lists', async (req, reply) => {
      const body = (req.body ?? {}) as { name?: string; objectTypeId?: string; processingType?: string };
      if (!body.name?.trim() || !body.objectTypeId || !['MANUAL', 'DYNAMIC', 'SNAPSHOT'].includes(body.processingType ?? '')) {
        return reply.code(400).send(error('VALIDATION_ERROR', 'name, objectTypeId and processingType are required'));
      }
      if (this.listByName(body.name)) return reply.code(409).send(error('CONFLICT', `A list with the name ${body.name} already exists.`));
      const listId = this.seedList(body.name.trim(), body.processingType as ListRow['processingType'], body.objectTypeId);
      return { list: this.listJson(this.lists.get(listId)!) };
    });

    const membership = (action: 'add' | 'remove') => async (req: FastifyRequest, reply: FastifyReply) => {
      const { listId } = req.params as { listId: string };
      const list = this.lists.get(listId);
      if (!list) return reply.code(404).send(error('OBJECT_NOT_FOUND', `List ${listId} does not exist.`));
      if (list.processingType !== 'MANUAL') return reply.code(400).send(error('VALIDATION_ERROR', `List ${listId} is not a MANUAL list; memberships cannot be changed.`));
      if (!Array.isArray(req.body)) return reply.code(400).send(error('VALIDATION_ERROR', 'Body must be a JSON array of record ids'));
      const done: string[] = [];
      const missing: string[] = [];
      for (const raw of req.body as unknown[]) {
        const id = String(raw);
        if (!this.contacts.has(id)) missing.push(id);
        else if (action === 'add') {
          if (!list.members.has(id)) list.members.set(id, this.iso());
          done.push(id);
        } else if (list.members.delete(id)) done.push(id);
      }
      list.listVersion++;
      return action === 'add' ? { recordIdsAdded: done, recordIdsMissing: missing } : { recordIdsRemoved: done, recordIdsMissing: missing };
    };
    app.put('/crm/v3/lists/:listId/memberships/add', membership('add'));
    app.put('/crm/v3/lists/:listId/memberships/remove', membership('remove'));

    // Basic list of contacts: `limit` ≤ 100, `after` cursor (here: the last id), `properties`.
    app.get('/crm/v3/objects/contacts', async (req, reply) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const limit = Number(q.get('limit') ?? 10);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) return reply.code(400).send(error('VALIDATION_ERROR', 'limit must be 1 to 100'));
      const after = Number(q.get('after') ?? 0);
      const rows = [...this.contacts.values()].filter((r) => Number(r.id) > after).sort((a, b) => Number(a.id) - Number(b.id));
      const page = rows.slice(0, limit);
      const properties = (q.get('properties') ?? '').split(',').filter(Boolean);
      return {
        results: page.map((r) => this.contactJson(r, properties)),
        ...(rows.length > limit && { paging: { next: { after: page.at(-1)!.id, link: `${this.baseUrl}/crm/v3/objects/contacts?after=${page.at(-1)!.id}` } } }),
      };
    });

    // CRM search, the part the sweep uses: one filter on lastmodifieddate (GT/GTE, ms), sorted
    // by it ascending, `after` an offset, at most 10,000 results reachable (HubSpot's documented cap).
    app.post('/crm/v3/objects/contacts/search', async (req, reply) => {
      const body = (req.body ?? {}) as { filterGroups?: { filters?: { propertyName?: string; operator?: string; value?: string }[] }[]; limit?: number; after?: string; properties?: string[] };
      const filters = (body.filterGroups ?? []).flatMap((g) => g.filters ?? []);
      const limit = body.limit ?? 10;
      const offset = Number(body.after ?? 0);
      if (limit < 1 || limit > 200) return reply.code(400).send(error('VALIDATION_ERROR', 'limit must be 1 to 200'));
      if (offset + limit > 10_000) return reply.code(400).send(error('VALIDATION_ERROR', 'Search results are limited to 10,000'));
      let rows = [...this.contacts.values()];
      for (const f of filters) {
        if (f.propertyName !== 'lastmodifieddate' || !['GT', 'GTE'].includes(f.operator ?? '')) return reply.code(400).send(error('VALIDATION_ERROR', 'this fake supports lastmodifieddate GT/GTE filters only'));
        const at = Number(f.value);
        rows = rows.filter((r) => (f.operator === 'GT' ? Date.parse(r.properties.lastmodifieddate!) > at : Date.parse(r.properties.lastmodifieddate!) >= at));
      }
      rows.sort((a, b) => Date.parse(a.properties.lastmodifieddate!) - Date.parse(b.properties.lastmodifieddate!) || Number(a.id) - Number(b.id));
      const page = rows.slice(offset, offset + limit);
      return {
        total: rows.length,
        results: page.map((r) => this.contactJson(r, body.properties ?? [])),
        ...(rows.length > offset + limit && { paging: { next: { after: String(offset + limit) } } }),
      };
    });

    // A list's memberships in record id order: `limit` ≤ 250, `after` cursor.
    app.get('/crm/v3/lists/:listId/memberships', async (req, reply) => {
      const { listId } = req.params as { listId: string };
      const list = this.lists.get(listId);
      if (!list) return reply.code(404).send(error('OBJECT_NOT_FOUND', `List ${listId} does not exist.`));
      const q = new URL(req.url, 'http://x').searchParams;
      const limit = Number(q.get('limit') ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || limit > 250) return reply.code(400).send(error('VALIDATION_ERROR', 'limit must be 1 to 250'));
      const after = Number(q.get('after') ?? 0);
      const members = [...list.members.entries()].filter(([id]) => Number(id) > after).sort(([a], [b]) => Number(a) - Number(b));
      const page = members.slice(0, limit);
      return {
        results: page.map(([recordId, at]) => ({ recordId, membershipTimestamp: at })),
        ...(members.length > limit && { paging: { next: { after: page.at(-1)![0] } } }),
      };
    });

    app.post('/crm/v3/lists/records/memberships/batch/read', async (req, reply) => {
      const inputs = ((req.body ?? {}) as { inputs?: { objectTypeId?: string; recordId?: unknown }[] }).inputs ?? [];
      if (inputs.length > BATCH_LIMIT) return reply.code(400).send(error('VALIDATION_ERROR', `Too many inputs (maximum ${BATCH_LIMIT})`));
      const started = this.iso();
      const results = inputs
        .filter((input) => input.objectTypeId === '0-1' && this.contacts.has(String(input.recordId)))
        .map((input) => {
          const recordId = String(input.recordId);
          return {
            objectTypeId: '0-1',
            recordId,
            recordListMemberships: this.listsOf(recordId).map((l) => ({ listId: l.listId, listVersion: l.listVersion, firstAddedTimestamp: l.members.get(recordId), lastAddedTimestamp: l.members.get(recordId), isPublicList: true })),
          };
        });
      return { status: 'COMPLETE', results, startedAt: started, completedAt: this.iso() };
    });
  }
}

function error(category: string, message: string) {
  return { status: 'error', message, correlationId: randomUUID(), category };
}

/** HubSpot's v1 and v3 signature headers for a delivery (the CRM side, for tests and benchmarks). */
export function signHubSpotWebhook(input: { secret: string; url: string; body: string | Buffer; method?: string; timestamp?: number }): Record<string, string> {
  const body = Buffer.isBuffer(input.body) ? input.body : Buffer.from(input.body, 'utf8');
  const method = (input.method ?? 'POST').toUpperCase();
  const timestamp = String(input.timestamp ?? Date.now());
  const v1 = createHash('sha256').update(input.secret + body.toString('utf8')).digest('hex');
  const v3 = createHmac('sha256', input.secret).update(method + input.url + body.toString('utf8') + timestamp).digest('base64');
  return {
    'x-hubspot-signature': v1,
    'x-hubspot-signature-version': 'v1',
    'x-hubspot-signature-v3': v3,
    'x-hubspot-request-timestamp': timestamp,
  };
}

export async function startFakeHubSpot(options?: FakeHubSpotOptions): Promise<FakeHubSpot> {
  return new FakeHubSpot(options).listen();
}
