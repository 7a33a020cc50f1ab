import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { countJobs } from '../src/store/jobs.js';
import { listOperations } from '../src/store/operations.js';
import { API_TOKEN, eventually, startHarness, type Harness } from './support/harness.js';

/**
 * Issue 2, section 7 (and the outbound half of section 5): the REST API for the host app, its
 * log, queue, dead letters, OpenAPI document, health and metrics — over real HTTP, against the
 * real service and the sandbox CRM.
 */
type Entry = { level: string; message: string; source: string; contactId: string | null; userId: number | null; at: string; context: unknown };

let h: Harness;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await h?.stop();
  for (const done of cleanup.splice(0).reverse()) await done();
});

const send = (path: string, init?: RequestInit) => fetch(h.service.url + path, init);
const userOf = async (contactId: string) => (await h.api('GET', `/api/users?contact_id=${contactId}`)).body.users[0];
const logEntries = async (query = '') => (await h.api<{ entries: Entry[] }>('GET', `/api/log?limit=1000${query}`)).body.entries;
/** Nothing pending, running or retrying. */
const idle = () => eventually(async () => {
  const c = await countJobs(h.service.engine.db);
  return c.pending + c.running + c.retrying === 0;
}, 10_000, 'an idle queue');
const metrics = async () => (await send('/metrics')).text();
const metric = (text: string, line: RegExp) => Number(line.exec(text)?.[1] ?? Number.NaN);

/** Every /api route as routes.ts registers it (method, fastify path). */
function apiRoutes(): { method: string; path: string }[] {
  const source = readFileSync(new URL('../src/api/routes.ts', import.meta.url), 'utf8');
  return [...source.matchAll(/api\.(get|post|patch|put|delete)\('(\/api\/[^']+)'/g)].map((m) => ({ method: m[1]!.toUpperCase(), path: m[2]! }));
}

describe('API — authentication', () => {
  it('answers 401 unauthorized on every /api route without a token or with a wrong one, and changes nothing', async () => {
    h = await startHarness({ workers: false });
    const routes = apiRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(13);
    const headers: (Record<string, string> | undefined)[] = [
      undefined,
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: `Bearer ${API_TOKEN}x` },
      { authorization: `Basic ${Buffer.from(`user:${API_TOKEN}`).toString('base64')}` },
      { authorization: API_TOKEN },
      { authorization: 'Bearer' },
    ];
    for (const { method, path } of routes) {
      for (const auth of headers) {
        const res = await send(path.replace(':id', '1'), {
          method,
          headers: { ...auth, ...(method !== 'GET' && { 'content-type': 'application/json' }) },
          body: method === 'GET' ? undefined : JSON.stringify(path === '/api/users' ? { email: 'sneaky@example.com' } : {}),
        });
        expect(res.status, `${method} ${path} with ${JSON.stringify(auth)}`).toBe(401);
        expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
      }
    }
    expect((await h.api('GET', '/api/users')).body.users).toEqual([]);
    // The right token works, whatever the case of "Bearer".
    expect((await send('/api/users', { headers: { authorization: `bearer ${API_TOKEN}` } })).status).toBe(200);
  });
});

describe('API — users', () => {
  it('lists and filters users by e-mail, contact_id and tag; gets one; 404 for an unknown id', async () => {
    h = await startHarness();
    const a = h.sandbox.state.createContact({ email: 'Alpha@Example.com', tags: ['gold', 'news'] }, 'seed');
    const b = h.sandbox.state.createContact({ email: 'beta@example.com', tags: ['news'] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: a.id });
    await h.webhook({ wpf_action: 'add', contact_id: b.id });
    await eventually(async () => (await h.api('GET', '/api/users')).body.users.length === 2, 5000, 'two users');

    const emails = async (query: string) => ((await h.api('GET', `/api/users${query}`)).body.users as { email: string }[]).map((u) => u.email);
    expect(await emails('')).toEqual(['alpha@example.com', 'beta@example.com']);
    expect(await emails('?email=ALPHA@example.com')).toEqual(['alpha@example.com']);
    expect(await emails(`?contact_id=${b.id}`)).toEqual(['beta@example.com']);
    expect(await emails('?tag=gold')).toEqual(['alpha@example.com']);
    expect(await emails('?tag=news')).toEqual(['alpha@example.com', 'beta@example.com']);
    expect(await emails('?tag=news&email=beta@example.com')).toEqual(['beta@example.com']);
    expect(await emails('?tag=none')).toEqual([]);
    expect(await emails('?limit=1')).toEqual(['alpha@example.com']);

    const listed = (await h.api('GET', `/api/users?contact_id=${a.id}`)).body.users[0];
    expect(listed).toEqual({ id: expect.any(Number), email: 'alpha@example.com', contactId: a.id, role: 'subscriber', tags: ['gold', 'news'], fields: expect.any(Object), createdAt: expect.any(String), updatedAt: expect.any(String) });
    expect(new Date(listed.createdAt).toISOString()).toBe(listed.createdAt);
    const one = await h.api('GET', `/api/users/${listed.id}`);
    expect(one).toEqual({ status: 200, body: { ...listed, pendingOperations: [] } });
    expect(JSON.stringify(one.body)).not.toMatch(/password|crmState/i);
    expect(await h.api('GET', '/api/users/999999')).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'user #999999 not found' } } });
  });

  it('registration finds or creates the contact by e-mail and pushes tags as deltas; 409 on a duplicate e-mail', async () => {
    h = await startHarness();
    const reg = await h.api('POST', '/api/users', { email: 'New.User@example.com', fields: { first_name: 'New', last_name: 'User' }, tags: ['lead', 'course-1'] });
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ email: 'new.user@example.com', role: 'subscriber', contactId: null, tags: ['course-1', 'lead'], fields: { first_name: 'New', last_name: 'User' } });
    const created = (await eventually(() => h.sandbox.state.findByEmail('new.user@example.com'), 5000, 'contact created'))!;
    await eventually(() => h.sandbox.state.get(created.id)?.tags.join() === 'course-1,lead', 5000, 'tags in the CRM');
    expect(h.sandbox.state.get(created.id)?.fields).toMatchObject({ first_name: 'New', last_name: 'User' });
    await eventually(async () => (await h.api('GET', `/api/users/${reg.body.id}`)).body.contactId === created.id, 5000, 'contact linked');

    // A contact that already exists in the CRM is found, not duplicated, and keeps its own tags.
    const existing = h.sandbox.state.createContact({ email: 'already@example.com', tags: ['crm-only'] }, 'seed');
    const second = await h.api('POST', '/api/users', { email: 'already@example.com', tags: ['from-app'] });
    expect(second.status).toBe(201);
    await eventually(() => h.sandbox.state.get(existing.id)?.tags.join() === 'crm-only,from-app', 5000, 'delta applied to the existing contact');
    expect(h.sandbox.state.list().filter((c) => c.email.toLowerCase() === 'already@example.com')).toHaveLength(1);
    // The CRM's tag comes back through the contact's webhook; the app's tag stays.
    await eventually(async () => (await h.api('GET', `/api/users/${second.body.id}`)).body.tags.join() === 'crm-only,from-app', 5000, 'local tags merged');

    for (const email of ['new.user@example.com', 'NEW.USER@EXAMPLE.COM']) {
      expect(await h.api('POST', '/api/users', { email })).toEqual({ status: 409, body: { error: { code: 'conflict', message: expect.any(String) } } });
    }
    expect((await h.api('GET', '/api/users')).body.users).toHaveLength(2);
  });

  it('PATCH pushes changed fields to the CRM and changes the role; tag apply/remove reach the CRM as deltas', async () => {
    h = await startHarness();
    const c = h.sandbox.state.createContact({ email: 'patch@example.com', fields: { first_name: 'Old', phone: '1' }, tags: ['keep', 'drop'] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    const user = await eventually(() => userOf(c.id), 5000, 'user');

    const patched = await h.api('PATCH', `/api/users/${user.id}`, { fields: { first_name: 'Renamed', last_name: 'Person' }, role: 'member' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ role: 'member', fields: { first_name: 'Renamed', last_name: 'Person', phone: '1' } });
    await eventually(() => h.sandbox.state.get(c.id)?.fields.first_name === 'Renamed' && h.sandbox.state.get(c.id)?.fields.last_name === 'Person', 5000, 'fields in the CRM');
    expect(h.sandbox.state.get(c.id)?.fields.phone).toBe('1');

    // A CRM user adds a tag meanwhile: deltas never overwrite it.
    h.sandbox.state.editAsUser(c.id, { applyTags: ['crm-side'] });
    const tagged = await h.api('POST', `/api/users/${user.id}/tags`, { apply: ['course-101'], remove: ['drop'] });
    expect(tagged.status).toBe(200);
    await eventually(() => h.sandbox.state.get(c.id)?.tags.join() === 'course-101,crm-side,keep', 5000, 'tags in the CRM');
    await eventually(async () => (await h.api('GET', `/api/users/${user.id}`)).body.tags.join() === 'course-101,crm-side,keep', 5000, 'local tags');
    await idle();
  });

  it('never pushes back data written because of a webhook (no ping-pong)', async () => {
    h = await startHarness();
    const c = h.sandbox.state.createContact({ email: 'pingpong@example.com', fields: { first_name: 'Ping' }, tags: ['a'] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    const user = await eventually(() => userOf(c.id), 5000, 'user');
    await idle();

    const apiWrites: string[] = [];
    cleanup.push(async () => off());
    const off = h.sandbox.state.onChange((contact, source) => source === 'api' && apiWrites.push(contact.id));
    const calls = h.sandbox.stats().calls;
    // A CRM user edits the contact; the sandbox sends its webhook to crmsync.
    h.sandbox.state.editAsUser(c.id, { applyTags: ['vip'], removeTags: ['a'], fields: { first_name: 'Pong', last_name: 'Player' } });
    await eventually(async () => {
      const u = (await h.api('GET', `/api/users/${user.id}`)).body;
      return u.tags.join() === 'vip' && u.fields.first_name === 'Pong' && u.fields.last_name === 'Player';
    }, 5000, 'the CRM edit applied locally');
    await idle();
    await h.sandbox.webhooks.idle();

    expect(apiWrites).toEqual([]);
    expect(h.sandbox.stats().calls - calls).toBe(1); // the one read of the reconcile; no write
    expect(await listOperations(h.service.engine.db, user.id)).toEqual([]);
    expect((await logEntries(`&contact_id=${c.id}`)).filter((e) => e.source === 'push')).toEqual([]);
  });

  it('recognises the echo of our own write: logged as such, nothing changed', async () => {
    h = await startHarness();
    const c = h.sandbox.state.createContact({ email: 'echo@example.com', tags: ['base'] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    const user = await eventually(() => userOf(c.id), 5000, 'user');
    await idle();

    h.sandbox.webhooks.hold(true);
    await h.api('POST', `/api/users/${user.id}/tags`, { apply: ['course-7'] });
    await eventually(() => h.sandbox.state.get(c.id)?.tags.join() === 'base,course-7', 5000, 'tag pushed');
    await idle();
    expect(h.sandbox.webhooks.held()).toEqual([{ contactId: c.id, version: 2 }]);
    const before = (await h.api('GET', `/api/users/${user.id}`)).body;

    const apiWrites: string[] = [];
    cleanup.push(async () => off());
    const off = h.sandbox.state.onChange((contact, source) => source === 'api' && apiWrites.push(contact.id));
    const calls = h.sandbox.stats().calls;
    await h.sandbox.webhooks.release();
    await eventually(async () => (await logEntries(`&level=info&contact_id=${c.id}`)).some((e) => e.message.includes('our own echo')), 5000, 'echo logged');
    await idle();

    const after = (await h.api('GET', `/api/users/${user.id}`)).body;
    expect({ tags: after.tags, fields: after.fields, role: after.role, email: after.email }).toEqual({ tags: before.tags, fields: before.fields, role: before.role, email: before.email });
    expect(after.tags).toEqual(['base', 'course-7']);
    expect(after.pendingOperations).toEqual([]); // the echo's read confirmed our apply
    expect(apiWrites).toEqual([]);
    expect(h.sandbox.stats().calls - calls).toBe(1);
    const echoPass = (await logEntries(`&contact_id=${c.id}`)).filter((e) => e.source === 'reconcile').at(0);
    expect(echoPass?.message).not.toMatch(/^updated user/);
  });
});

describe('API — log and queue', () => {
  it('filters the activity log by level, contact_id and limit; entries have time, level, user, contact, source, message, context', async () => {
    h = await startHarness({ workers: false });
    const c = h.sandbox.state.createContact({ email: 'log@example.com' }, 'seed');
    const other = h.sandbox.state.createContact({ email: 'other-log@example.com' }, 'seed');
    for (let i = 0; i < 3; i++) await h.webhook({ wpf_action: 'add', contact_id: c.id });
    await h.webhook({ wpf_action: 'update', contact_id: other.id });
    await h.drain();

    const all = await logEntries();
    expect(all.length).toBeGreaterThanOrEqual(5);
    for (const e of all) {
      expect(Object.keys(e).sort()).toEqual(['at', 'contactId', 'context', 'id', 'level', 'message', 'source', 'userId']);
      expect(['error', 'warning', 'notice', 'info', 'http']).toContain(e.level);
      expect(new Date(e.at).toISOString()).toBe(e.at);
    }
    const notices = await logEntries('&level=notice');
    expect(notices.length).toBeGreaterThanOrEqual(2);
    expect(notices.every((e) => e.level === 'notice')).toBe(true);
    // One line per webhook: the first received (http), the two duplicates coalesced (notice), each with its request.
    const lines = (await logEntries(`&contact_id=${c.id}`)).filter((e) => e.source === 'webhook');
    expect(lines.map((e) => e.level)).toEqual(['notice', 'notice', 'http']);
    expect(lines.every((e) => e.contactId === c.id && (e.context as { query?: { wpf_action?: string } }).query?.wpf_action === 'add')).toBe(true);
    expect(await logEntries(`&level=http&contact_id=${c.id}`)).toEqual([lines[2]]);
    expect((await logEntries(`&contact_id=${other.id}`)).every((e) => e.contactId === other.id)).toBe(true);
    const two = (await h.api('GET', '/api/log?limit=2')).body.entries as Entry[];
    expect(two).toEqual(all.slice(0, 2)); // newest first
    const created = (await logEntries(`&level=info&contact_id=${c.id}`)).find((e) => e.message.startsWith('created user'));
    expect(created?.userId).toEqual(expect.any(Number));
  });

  it('counts the queue: pending, running, retrying, dead', async () => {
    h = await startHarness({ workers: false });
    expect((await h.api('GET', '/api/queue')).body).toEqual({ counts: { pending: 0, running: 0, retrying: 0, dead: 0 }, jobs: [] });
    await h.webhook({ wpf_action: 'update', contact_id: '1' });
    await h.webhook({ wpf_action: 'update', contact_id: '2' });
    await h.webhook({ wpf_action: 'update', contact_id: '2' });
    const { body } = await h.api('GET', '/api/queue');
    expect(body.counts).toEqual({ pending: 2, running: 0, retrying: 0, dead: 0 });
    expect(body.jobs.map((j: { contactId: string; webhooks: number }) => [j.contactId, j.webhooks])).toEqual([['1', 1], ['2', 2]]);
    expect((await h.api('GET', '/api/queue?state=pending&limit=1')).body.jobs).toHaveLength(1);
    await h.drain();
    expect((await h.api('GET', '/api/queue')).body.counts).toEqual({ pending: 0, running: 0, retrying: 0, dead: 0 });
  });

  it('a CRM that keeps failing sends the job to the dead letters with an error logged; replay processes it once the CRM is back', async () => {
    // The sandbox CRM behind a switch, so it can be made to fail (503) and come back.
    const sandbox = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: null, seed: false });
    cleanup.push(() => sandbox.close());
    const proxy = await startSwitch(sandbox);
    cleanup.push(() => proxy.close());
    h = await startHarness({ env: { CRMSYNC_CRM_URL: proxy.url, CRMSYNC_CRM_API_KEY: sandbox.apiKey, CRMSYNC_MAX_ATTEMPTS: '2' } });
    const c = sandbox.state.createContact({ email: 'dead@example.com', tags: ['t'] }, 'seed');

    proxy.down = true;
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    const dead = await eventually(async () => (await h.api('GET', '/api/queue/dead')).body.jobs[0], 10_000, 'a dead letter');
    expect(dead).toMatchObject({ contactId: c.id, action: 'add', state: 'dead', attempts: 2, webhooks: 1, lastError: expect.stringContaining('503') });
    expect((await h.api('GET', '/api/queue')).body.counts).toEqual({ pending: 0, running: 0, retrying: 0, dead: 1 });
    const errors = await logEntries(`&level=error&contact_id=${c.id}`);
    expect(errors.some((e) => e.message.includes('failed after 2 attempts') && e.message.includes('dead letters'))).toBe(true);
    expect((await logEntries(`&level=warning&contact_id=${c.id}`)).some((e) => e.message.includes('attempt 1 of 2'))).toBe(true);
    expect(await userOf(c.id)).toBeUndefined();

    proxy.down = false;
    expect(await h.api('POST', '/api/queue/dead/999999/replay')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const replay = await h.api('POST', `/api/queue/dead/${dead.id}/replay`);
    expect(replay.status).toBe(200);
    expect(replay.body.job).toMatchObject({ contactId: c.id, action: 'add' });
    await eventually(() => userOf(c.id), 5000, 'the replayed job processed');
    expect((await userOf(c.id)).tags).toEqual(['t']);
    await idle();
    expect((await h.api('GET', '/api/queue/dead')).body.jobs).toEqual([]);
    expect((await logEntries(`&level=notice&contact_id=${c.id}`)).some((e) => e.message === `dead job #${dead.id} replayed`)).toBe(true);
  });
});

describe('API — OpenAPI, health, metrics', () => {
  it('serves a valid OpenAPI 3.1 document listing every /api path', async () => {
    h = await startHarness({ workers: false });
    const { status, body: doc } = await h.api('GET', '/api/openapi.json');
    expect(status).toBe(200);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      expect(path.startsWith('/')).toBe(true);
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        expect(['get', 'post', 'put', 'patch', 'delete']).toContain(method);
        documented.add(`${method.toUpperCase()} ${path}`);
        expect(op.responses, `${method} ${path}`).toBeTypeOf('object');
        for (const code of Object.keys(op.responses)) expect(code).toMatch(/^([1-5]\d\d|default)$/);
        for (const [, r] of Object.entries(op.responses as Record<string, any>)) expect(r.description).toBeTypeOf('string');
        const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean; schema: unknown }[];
        for (const p of params) {
          expect(['query', 'path', 'header', 'cookie']).toContain(p.in);
          expect(p.schema).toBeTypeOf('object');
          if (p.in === 'path') expect(p.required).toBe(true);
        }
        // Every {template} in the path is declared as a path parameter, and only those.
        expect(params.filter((p) => p.in === 'path').map((p) => p.name).sort()).toEqual([...templated].sort());
        if (op.requestBody) expect(op.requestBody.content['application/json'].schema).toBeTypeOf('object');
      }
    }
    const registered = apiRoutes().filter((r) => r.path !== '/api/openapi.json').map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect([...documented].sort()).toEqual(registered.sort());
    // The documented request schemas are the ones that validate: e.g. registration's e-mail is required.
    expect(doc.paths['/api/users'].post.requestBody.content['application/json'].schema.required).toContain('email');
  });

  it('answers /healthz without a token', async () => {
    h = await startHarness({ workers: false });
    const res = await send('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', crm: 'sandbox', queue: { pending: 0, dead: 0 } });
  });

  it('exposes Prometheus metrics: webhooks received and coalesced, queue depth, CRM calls, reconcile latency', async () => {
    h = await startHarness({ workers: false });
    const c = h.sandbox.state.createContact({ email: 'metrics@example.com' }, 'seed');
    for (let i = 0; i < 3; i++) await h.webhook({ wpf_action: 'update', contact_id: c.id });
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    await h.webhook({ wpf_action: 'update_tags', contact_id: '2' });
    let text = await metrics();
    expect(metric(text, /^crmsync_webhooks_received_total\{action="update"\} (\d+)$/m)).toBe(3);
    expect(metric(text, /^crmsync_webhooks_received_total\{action="add"\} (\d+)$/m)).toBe(1);
    expect(metric(text, /^crmsync_webhooks_coalesced_total (\d+)$/m)).toBe(3);
    expect(metric(text, /^crmsync_queue_jobs\{state="pending"\} (\d+)$/m)).toBe(2);
    expect(text).toMatch(/^# TYPE crmsync_crm_rate_limited_total counter$/m);

    await h.drain();
    text = await metrics();
    expect(metric(text, /^crmsync_queue_jobs\{state="pending"\} (\d+)$/m)).toBe(0);
    expect(metric(text, /^crmsync_crm_calls_total\{status="200"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(metric(text, /^crmsync_reconcile_latency_seconds_count (\d+)$/m)).toBe(2);
    expect(metric(text, /^crmsync_crm_rate_limited_total (\d+)$/m)).toBe(0);
    for (const name of ['crmsync_webhooks_received_total', 'crmsync_webhooks_coalesced_total', 'crmsync_queue_jobs', 'crmsync_crm_calls_total', 'crmsync_crm_rate_limited_total', 'crmsync_reconcile_latency_seconds']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).not.toContain(API_TOKEN);
  });

  it("absorbs a 429 from the CRM by waiting its Retry-After, and counts it", async () => {
    h = await startHarness();
    const c = h.sandbox.state.createContact({ email: 'limited@example.com', tags: ['x'] }, 'seed');
    h.sandbox.refuseNext(1);
    const started = Date.now();
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    await eventually(() => userOf(c.id), 5000, 'user despite the 429');
    expect(Date.now() - started).toBeGreaterThanOrEqual(200); // it waited (Retry-After: the rest of the CRM's second)
    expect(h.sandbox.stats().rateLimited).toBe(1);
    const text = await metrics();
    expect(metric(text, /^crmsync_crm_rate_limited_total (\d+)$/m)).toBe(1);
    expect(metric(text, /^crmsync_crm_calls_total\{status="429"\} (\d+)$/m)).toBe(1);
    // Absorbed inside the call: the job did not fail, no retry was scheduled.
    expect((await logEntries(`&contact_id=${c.id}`)).filter((e) => e.level === 'warning' || e.level === 'error')).toEqual([]);
  });
});

/** An HTTP pass-through to the sandbox CRM that answers 503 while `down`. */
async function startSwitch(sandbox: Sandbox): Promise<{ url: string; down: boolean; close(): Promise<void> }> {
  const state = { down: false };
  const server: Server = createServer(async (req, res) => {
    if (state.down) {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"maintenance"}');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type', 'accept']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
    const upstream = await fetch(sandbox.url + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const out: Record<string, string> = {};
    for (const name of ['content-type', 'retry-after']) {
      const v = upstream.headers.get(name);
      if (v) out[name] = v;
    }
    res.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get down() {
      return state.down;
    },
    set down(on: boolean) {
      state.down = on;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
