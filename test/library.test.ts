import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createCrmsync, keepRawBody, type CallbackEvent, type Crmsync, type CrmsyncOptions } from '../src/index.js';
import { loadConfig } from '../src/config.js';
import { registerUser } from '../src/push/local-change.js';
import { startService } from '../src/service.js';
import { main as expressExample } from '../examples/express-app/server.js';
import { main as fastifyExample } from '../examples/fastify-app/server.js';
import { testDatabase } from './support/database.js';
import { ACCESS_KEY, API_TOKEN, eventually, startHarness, type Harness } from './support/harness.js';

/**
 * Issue 5, "Library mode": each example app, started as a host app would start it, with a
 * temporary store and the embedded sandbox CRM on a random port; real HTTP throughout.
 */
const cleanups: (() => Promise<unknown>)[] = [];
// Generous limits: the suite shares a loaded machine and PostgreSQL; nothing here measures time.
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
}, 60_000);
const slow = { timeout: 60_000 };

async function testOptions(): Promise<CrmsyncOptions> {
  const database = await testDatabase();
  cleanups.push(() => database.cleanup());
  return {
    databaseUrl: database.url,
    accessKey: ACCESS_KEY,
    apiToken: API_TOKEN,
    crm: { name: 'sandbox', rateLimit: 1000 },
    workers: 2,
    sandbox: { port: 0, rateLimit: 0 },
    logger: pino({ level: 'silent' }),
  };
}

/** Servers and sockets of this process (what an unclosed app, store or sandbox would leave). */
const openHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap').length;

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as any };
};

type Seen = { name: string; data: any; event: CallbackEvent };

/** Subscribes to every callback, recording payloads in order. */
function record(crmsync: { on: (name: any, handler: (data: any, event: CallbackEvent) => void) => () => void }): Seen[] {
  const seen: Seen[] = [];
  for (const name of ['user.created', 'user.updated', 'tags.changed', 'access.granted', 'access.revoked']) crmsync.on(name, (data, event) => void seen.push({ name, data, event }));
  return seen;
}

describe('library mode — the Fastify example', slow, () => {
  it('takes a real webhook, creates the user, fires the callbacks after the commit, pushes a local tag change, and leaves nothing open when closed', async () => {
    const before = openHandles();
    const ex = await fastifyExample({ port: 0, log: false, crmsync: await testOptions() });
    let closed = false;
    cleanups.push(async () => !closed && ex.app.close());
    const seen = record(ex.crmsync);
    const sandbox = ex.crmsync.sandbox!;
    const contact = sandbox.state.createContact({ email: 'Zoe@example.com', fields: { first_name: 'Zoe' }, tags: ['customer', 'newsletter'] }, 'seed');

    const res = await fetch(`${ex.url}/crm/?wpf_action=add&access_key=${ACCESS_KEY}&contact_id=${contact.id}`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'queued', action: 'add', contacts: [contact.id] });

    const user = await eventually(async () => (await ex.crmsync.users.find({ contactId: contact.id })).find((u) => u.tags.length === 2), 20_000, 'the user created from the CRM');
    expect(user).toMatchObject({ email: 'zoe@example.com', contactId: contact.id, tags: ['customer', 'newsletter'], role: 'subscriber' });

    await eventually(() => seen.length >= 2, 20_000, 'the callbacks');
    expect(seen.map((s) => s.name)).toEqual(['user.created', 'tags.changed']);
    expect(seen[0]!.data).toEqual({ userId: user!.id, email: 'zoe@example.com', contactId: contact.id, role: 'subscriber', tags: ['customer', 'newsletter'], fields: expect.objectContaining({ first_name: 'Zoe' }), source: 'crm' });
    expect(seen[1]!.data).toEqual({ userId: user!.id, added: ['customer', 'newsletter'], removed: [], source: 'crm' });
    expect(seen[1]!.event).toMatchObject({ type: 'tags.changed', id: expect.stringMatching(/^evt_/) });
    // The example's own callback enrolled the user in the course the CRM tag unlocks.
    expect((await get(`${ex.url}/users/${user!.id}/courses`)).body).toEqual({ courses: ['getting-started'] });

    // A local change through the typed API: pushed to the CRM, and its callback fires (source app).
    const changed = await ex.crmsync.users.applyTags(user!.id, ['vip']);
    expect(changed.tags).toEqual(['customer', 'newsletter', 'vip']);
    await eventually(() => sandbox.state.get(contact.id)?.tags.includes('vip'), 20_000, 'vip pushed to the sandbox CRM');
    await eventually(() => seen.some((s) => s.name === 'tags.changed' && s.data.source === 'app'), 20_000, 'the app change callback');
    expect(seen.filter((s) => s.data.source === 'app').map((s) => s.data)).toEqual([{ userId: user!.id, added: ['vip'], removed: [], source: 'app' }]);
    expect((await get(`${ex.url}/users/${user!.id}/courses`)).body).toEqual({ courses: ['getting-started', 'masterclass'] });

    // `own: true`: closing the host app stops crmsync.
    await ex.app.close();
    closed = true;
    expect(ex.crmsync.running).toBe(false);
    await expect(ex.crmsync.users.get(user!.id)).rejects.toMatchObject({ code: 'not_started' });
    await eventually(() => openHandles() <= before, 5000, `no open servers or sockets (before: ${before}, now: ${openHandles()})`);
  });

  it('a callback that throws is logged and sync goes on: the other callbacks still run and later events still arrive', async () => {
    const ex = await fastifyExample({ port: 0, log: false, crmsync: await testOptions() });
    cleanups.push(() => ex.app.close());
    ex.crmsync.on('user.created', () => {
      throw new Error('host bug in the welcome callback');
    });
    const seen = record(ex.crmsync);
    const first = await ex.crmsync.users.register({ email: 'ann@example.com', tags: ['newsletter'] });
    await eventually(() => seen.some((s) => s.name === 'tags.changed'), 20_000, 'the callbacks of the registration');
    expect(seen.map((s) => s.name)).toEqual(['user.created', 'tags.changed']);
    expect(seen[0]!.data).toMatchObject({ userId: first.id, email: 'ann@example.com', source: 'app' });

    await ex.crmsync.users.update(first.id, { fields: { first_name: 'Ann' } });
    await eventually(() => seen.some((s) => s.name === 'user.updated'), 20_000, 'a later event');
    expect(seen.at(-1)!.data).toEqual({ userId: first.id, fields: [{ name: 'first_name', from: null, to: 'Ann' }], role: null, email: null, source: 'app' });
    // The registration reached the CRM despite the failing callback.
    const contactId = (await eventually(() => ex.crmsync.users.get(first.id).then((u) => u?.contactId), 20_000, 'the contact created in the CRM'))!;
    const inCrm = () => ex.crmsync.sandbox!.state.get(contactId);
    await eventually(() => inCrm()?.fields.first_name === 'Ann' && inCrm()?.tags.includes('newsletter'), 20_000, `the registration and the change pushed to the CRM (${JSON.stringify(inCrm())})`);
    expect(inCrm()).toMatchObject({ email: 'ann@example.com', tags: ['newsletter'] });

    const log = await fetchLog(ex.crmsync);
    expect(log.some((e) => e.level === 'error' && e.source === 'events' && e.message.includes('user.created callback failed') && e.message.includes('host bug in the welcome callback'))).toBe(true);
  });
});

describe('library mode — callbacks are durable', slow, () => {
  it('a change committed while the host app was down reaches its callback when the app starts again', async () => {
    const options = await testOptions();
    const first = createCrmsync(options);
    await first.start(); // creates the in-process endpoint
    await first.stop();
    // Meanwhile, another process (the plain service) changes a user: its events are recorded for the callbacks.
    const service = await startService(loadConfig({ CRMSYNC_DATABASE_URL: options.databaseUrl!, CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_CRM: 'sandbox' }), { listen: false, workers: false, logger: pino({ level: 'silent' }), sandboxPort: 0 });
    const user = await registerUser(service.engine, { email: 'offline@example.com', role: null, fields: {}, tags: ['customer'] });
    await service.stop();

    const again = createCrmsync(options);
    const seen = record(again);
    await again.start();
    cleanups.push(() => again.stop());
    await eventually(() => seen.length >= 2, 20_000, 'the callbacks of the change made while down');
    expect(seen.map((s) => [s.name, s.data.userId, s.data.source])).toEqual([
      ['user.created', user.id, 'app'],
      ['tags.changed', user.id, 'app'],
    ]);
  });
});

describe('library mode — the Express example', slow, () => {
  it('takes a real webhook, creates the user, fires the example callback, pushes a purchase to the CRM, and leaves nothing open when closed', async () => {
    const before = openHandles();
    const ex = await expressExample({ port: 0, crmsync: await testOptions() });
    let closed = false;
    cleanups.push(async () => !closed && ex.close());
    const seen = record(ex.crmsync);
    const sandbox = ex.crmsync.sandbox!;
    const contact = sandbox.state.createContact({ email: 'max@example.com', tags: ['newsletter'] }, 'seed');

    const res = await fetch(`${ex.url}/crm?wpf_action=add&access_key=${ACCESS_KEY}&contact_id=${contact.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'queued', action: 'add', contacts: [contact.id] });

    const users = await eventually(async () => ex.crmsync.users.find({ contactId: contact.id }).then((u) => (u.length ? u : undefined)), 20_000, 'the user created from the CRM');
    const user = users![0];
    expect(user).toMatchObject({ email: 'max@example.com', tags: ['newsletter'] });
    await eventually(async () => (await get(`${ex.url}/welcomed`)).body.welcomed.length === 1, 20_000, 'the example welcomed the user');
    expect((await get(`${ex.url}/welcomed`)).body).toEqual({ welcomed: [{ userId: user!.id, email: 'max@example.com' }] });
    expect(seen[0]).toMatchObject({ name: 'user.created', data: { userId: user!.id, contactId: contact.id, tags: ['newsletter'], source: 'crm' } });

    // The host's own route (after express.json()) makes a local change: pushed to the CRM.
    const purchase = await fetch(`${ex.url}/users/${user!.id}/purchase`, { method: 'POST' });
    expect(purchase.status).toBe(200);
    expect(((await purchase.json()) as { tags: string[] }).tags).toEqual(['customer', 'newsletter']);
    await eventually(() => sandbox.state.get(contact.id)?.tags.includes('customer'), 20_000, 'customer pushed to the sandbox CRM');
    await eventually(() => seen.some((s) => s.name === 'tags.changed' && s.data.source === 'app'), 20_000, 'the purchase callback');

    await ex.close();
    closed = true;
    await eventually(() => openHandles() <= before, 5000, `no open servers or sockets (before: ${before}, now: ${openHandles()})`);
  });

  it('works when a body parser ran before it: the form body is re-read (or kept with keepRawBody) and the contact found in it', async () => {
    const ex = await expressExample({ port: 0, crmsync: await testOptions() });
    cleanups.push(() => ex.close());
    const contact = ex.crmsync.sandbox!.state.createContact({ email: 'lea@example.com', tags: ['a'] }, 'seed');
    for (const parser of [express.urlencoded({ extended: true }), express.urlencoded({ extended: false, verify: keepRawBody }), express.json()]) {
      const host = express();
      host.use(parser);
      host.use('/crm', ex.crmsync.expressMiddleware());
      const url = await listen(host);
      const res = await fetch(`${url}/crm/?wpf_action=update&access_key=${ACCESS_KEY}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `contact%5Bid%5D=${contact.id}&contact%5Bemail%5D=lea%40example.com`,
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'queued', action: 'update', contacts: [contact.id] });
    }
  });
});

describe('library mode — answers exactly like the service', slow, () => {
  let h: Harness;
  const big = 'x'.repeat(1_048_576 + 10);
  const cases: [string, string, RequestInit?][] = [
    ['no access key', '/?wpf_action=update&contact_id=1'],
    ['a wrong access key', `/?wpf_action=update&access_key=wrong-${ACCESS_KEY}&contact_id=1`],
    ['no action', `/?access_key=${ACCESS_KEY}&contact_id=1`],
    ['an unknown action', `/?wpf_action=delete&access_key=${ACCESS_KEY}&contact_id=1`],
    ['no contact anywhere', `/?wpf_action=update&access_key=${ACCESS_KEY}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hello":1}' }],
    ['a bad contact id in the body', `/?wpf_action=update&access_key=${ACCESS_KEY}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'contact%5Bid%5D=abc' }],
    ['an unsupported content type', `/?wpf_action=update&access_key=${ACCESS_KEY}&contact_id=1`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' }],
    ['a body over the limit', `/?wpf_action=update&access_key=${ACCESS_KEY}&contact_id=1`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big }],
  ];

  async function answer(url: string, init?: RequestInit) {
    const res = await fetch(url, init);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  }

  it('a bad webhook gets the same status, code and body through the Express middleware and the Fastify plugin as from the service', async () => {
    h = await startHarness();
    cleanups.push(() => h.stop());
    const ex = await expressExample({ port: 0, crmsync: await testOptions() });
    cleanups.push(() => ex.close());
    const fx = await fastifyExample({ port: 0, log: false, crmsync: await testOptions() });
    cleanups.push(() => fx.app.close());
    for (const [what, path, init] of cases) {
      const fromService = await answer(h.service.url + path, init);
      expect(fromService.status, what).toBeGreaterThanOrEqual(400);
      expect(JSON.parse(fromService.body).error.code, what).toMatch(/^[a-z_]+$/);
      expect(await answer(`${ex.url}/crm${path}`, init), `${what} (Express)`).toEqual(fromService);
      expect(await answer(`${fx.url}/crm${path}`, init), `${what} (Fastify)`).toEqual(fromService);
    }
    // The refusals are in the activity log, as the service logs them.
    const refused = (await fetchLog(ex.crmsync)).filter((e) => e.source === 'webhook' && e.level === 'error');
    expect(refused.length).toBeGreaterThanOrEqual(cases.length - 1);
  });

  it('with api: true, the /api routes answer through the Express middleware as from the service', async () => {
    h = await startHarness();
    cleanups.push(() => h.stop());
    const ex = await expressExample({ port: 0, crmsync: await testOptions() });
    cleanups.push(() => ex.close());
    const host = express();
    host.use('/crm', ex.crmsync.expressMiddleware({ api: true }));
    const url = await listen(host);
    const bearer = { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' };
    const requests: [string, RequestInit?][] = [
      ['/api/users'],
      ['/api/users/999', { headers: bearer }],
      ['/api/users', { method: 'POST', headers: bearer, body: '{"email":' }],
      ['/api/users', { method: 'POST', headers: bearer, body: JSON.stringify({ email: 'not an e-mail' }) }],
      ['/api/nothing-here', { headers: bearer }],
    ];
    for (const [path, init] of requests) expect(await answer(`${url}/crm${path}`, init), path).toEqual(await answer(h.service.url + path, init));
    // A good call works too, and the user is the library's.
    const created = await answer(`${url}/crm/api/users`, { method: 'POST', headers: bearer, body: JSON.stringify({ email: 'via-api@example.com' }) });
    expect(created.status).toBe(201);
    expect(await ex.crmsync.users.find({ email: 'via-api@example.com' })).toHaveLength(1);
  });

  it('the typed users API refuses bad input with the codes and messages of the REST API', async () => {
    h = await startHarness();
    cleanups.push(() => h.stop());
    const ex = await expressExample({ port: 0, crmsync: await testOptions() });
    cleanups.push(() => ex.close());
    const { users } = ex.crmsync;
    await users.register({ email: 'taken@example.com' });
    expect((await h.api('POST', '/api/users', { email: 'taken@example.com' })).status).toBe(201);
    // Calls, not promises: each is made only when its turn comes.
    const pairs: [() => Promise<unknown>, string, string, unknown?][] = [
      [() => users.register({ email: 'not an e-mail' }), 'POST', '/api/users', { email: 'not an e-mail' }],
      [() => users.register({ email: 'taken@example.com' }), 'POST', '/api/users', { email: 'taken@example.com' }],
      [() => users.register({ email: 'x@example.com', role: 'emperor' }), 'POST', '/api/users', { email: 'x@example.com', role: 'emperor' }],
      [() => users.update(999, { fields: { first_name: 'A' } }), 'PATCH', '/api/users/999', { fields: { first_name: 'A' } }],
      [() => users.applyTags(1, ['ok', '\u0001bad']), 'POST', '/api/users/1/tags', { apply: ['ok', '\u0001bad'] }],
      [() => users.update(1, { fields: { 'Bad Name': 'x' } }), 'PATCH', '/api/users/1', { fields: { 'Bad Name': 'x' } }],
    ];
    for (const [call, method, path, body] of pairs) {
      const rest = await h.api(method, path, body);
      expect(rest.status, path).toBeGreaterThanOrEqual(400);
      const error = await call().then(() => null, (e: unknown) => e as { code: string; message: string; status: number });
      expect({ code: error?.code, message: error?.message, status: error?.status }, `${method} ${path}`).toEqual({ ...rest.body.error, status: rest.status });
    }
    expect(await users.get(999)).toBeNull();
    expect(await users.find({ email: 'not an e-mail' }).catch((e: { code: string }) => e.code)).toBe('invalid_request');
  });

  it('the Fastify plugin keeps raw bodies in its own scope: the host app still parses JSON, the webhook gets the bytes', async () => {
    const options = await testOptions();
    const crmsync = createCrmsync(options);
    const host = Fastify();
    host.post('/echo', async (request) => ({ got: request.body }));
    await host.register(crmsync.fastifyPlugin, { prefix: '/crm', own: true });
    cleanups.push(() => host.close());
    const echo = await host.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
    expect(echo.json()).toEqual({ got: { a: 1 } });
    const contact = crmsync.sandbox!.state.createContact({ email: 'json@example.com' }, 'seed');
    const hook = await host.inject({ method: 'POST', url: `/crm?wpf_action=update&access_key=${ACCESS_KEY}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ contact: { id: contact.id } }) });
    expect(hook.json()).toEqual({ status: 'queued', action: 'update', contacts: [contact.id] });
    // The host's own 404s are its own (the plugin answers only under its prefix).
    expect((await host.inject({ method: 'GET', url: '/crm/unknown' })).json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /crm/unknown' } });
    expect((await host.inject({ method: 'GET', url: '/elsewhere' })).json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });

  it('before start() the middleware answers 503 not_started; other URLs go on to the host app', async () => {
    const crmsync = createCrmsync(await testOptions());
    const host = express();
    host.use('/crm', crmsync.expressMiddleware());
    host.get('/crm/elsewhere', (_req, res) => void res.json({ host: true }));
    const url = await listen(host);
    expect(await answer(`${url}/crm/?wpf_action=update&access_key=${ACCESS_KEY}&contact_id=1`)).toEqual({
      status: 503,
      type: 'application/json; charset=utf-8',
      body: JSON.stringify({ error: { code: 'not_started', message: 'crmsync is not running: call crmsync.start() when the app starts' } }),
    });
    expect((await get(`${url}/crm/elsewhere`)).body).toEqual({ host: true });
  });
});

async function listen(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The activity log, read through the /api routes the Fastify plugin mounts when asked (api: true). */
async function fetchLog(crmsync: Crmsync): Promise<{ level: string; source: string; message: string }[]> {
  const admin = Fastify();
  await admin.register(crmsync.fastifyPlugin, { prefix: '/crm', api: true });
  const res = await admin.inject({ method: 'GET', url: '/crm/api/log?limit=1000', headers: { authorization: `Bearer ${API_TOKEN}` } });
  await admin.close();
  expect(res.statusCode).toBe(200);
  return (res.json() as { entries: { level: string; source: string; message: string }[] }).entries;
}
