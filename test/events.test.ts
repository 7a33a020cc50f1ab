import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { verify } from '../src/events/standard-webhooks.js';
import { startService } from '../src/service.js';
import { testDatabase } from './support/database.js';
import { ACCESS_KEY, API_TOKEN, eventually, ManualClock, startHarness, type Harness } from './support/harness.js';
import { startReceiver, type Receiver } from './support/receiver.js';

/**
 * Issue 5, "Events to the host application": events written with the change that causes them,
 * delivered from the durable outbox to real HTTP receivers, signed per Standard Webhooks.
 */
type Entry = { level: string; message: string; source: string; userId: number | null; context: unknown };

let h: Harness | undefined;
let receivers: Receiver[] = [];
afterEach(async () => {
  await h?.stop();
  h = undefined;
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(respond?: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(respond);
  receivers.push(r);
  return r;
}

async function addEndpoint(url: string, events?: string[]) {
  const res = await h!.api('POST', '/api/endpoints', { url, ...(events && { events }) });
  expect(res.status).toBe(201);
  return res.body as { id: number; secret: string; enabled: boolean; secrets: { createdAt: string; expiresAt: string | null }[] };
}

const deliveries = async (endpointId: number) => (await h!.api('GET', `/api/endpoints/${endpointId}/deliveries`)).body.deliveries as any[];
const eventLog = async () => ((await h!.api<{ entries: Entry[] }>('GET', '/api/log?limit=1000')).body.entries).filter((e) => e.source === 'events');
/** Waits until attempt `n` of the endpoint's newest delivery is recorded as failed (its retry time is then set). */
const failedAttempt = (endpointId: number, n: number) =>
  eventually(async () => {
    const [d] = await deliveries(endpointId);
    // A claim counts the attempt first; the attempt is over when the claim is released.
    const claimed = await h!.service.engine.db.selectFrom('event_deliveries').select('id').where('endpoint_id', '=', endpointId).where('locked_by', 'is not', null).executeTakeFirst();
    return d?.state === 'failed' && d.attempts === n && !claimed;
  }, 5000, `attempt ${n} recorded as failed`);
/** The clock's time in seconds: what a receiver compares webhook-timestamp with. */
const nowSeconds = () => Math.floor(h!.service.engine.clock.now() / 1000);

describe('events — delivered and verifiable', () => {
  it('an add webhook sends user.created and user.tags_changed, each signed so the receiver verifies it', async () => {
    h = await startHarness();
    const app = await receiver();
    const ep = await addEndpoint(app.url);
    expect(ep.secret).toMatch(/^whsec_/);
    // The secret is shown once: never listed again.
    const listed = await h.api('GET', '/api/endpoints');
    expect(JSON.stringify(listed.body)).not.toContain(ep.secret.slice(6));
    expect(listed.body.endpoints[0]).toMatchObject({ id: ep.id, url: app.url, events: ['*'], enabled: true, secrets: [{ expiresAt: null }] });

    const contact = h.sandbox.state.createContact({ email: 'zoe@example.com', tags: ['newsletter', 'customer'] }, 'seed');
    expect((await h.webhook({ wpf_action: 'add', contact_id: contact.id })).status).toBe(200);
    await eventually(() => app.received.length >= 2, 10_000, 'two events');

    for (const r of app.received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(verify(ep.secret, r.body, r.headers as Record<string, string>, { nowSeconds: nowSeconds() })).toMatchObject({ valid: true, id: r.headers['webhook-id'] });
    }
    const events = app.events();
    const user = (await h.api('GET', `/api/users?contact_id=${contact.id}`)).body.users[0];
    expect(events.map((e) => e.type).sort()).toEqual(['user.created', 'user.tags_changed']);
    expect(events.find((e) => e.type === 'user.created')!.data).toEqual({
      userId: user.id, email: 'zoe@example.com', contactId: contact.id, role: 'subscriber', tags: ['customer', 'newsletter'], fields: expect.any(Object), source: 'crm',
    });
    expect(events.find((e) => e.type === 'user.tags_changed')!.data).toEqual({ userId: user.id, added: ['customer', 'newsletter'], removed: [], source: 'crm' });
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
    for (const e of events) expect(e.id).toMatch(/^evt_[0-9a-f]+$/);

    const list = await eventually(async () => {
      const d = await deliveries(ep.id);
      return d.length === 2 && d.every((x) => x.state === 'delivered') ? d : null;
    }, 5000, 'deliveries recorded as delivered') as any[];
    expect(list).toHaveLength(2);
    expect(list.map((d) => d.eventId).sort()).toEqual(events.map((e) => e.id).sort());
    for (const d of list) expect(d).toMatchObject({ attempts: 1, lastStatus: 200, lastError: null, deliveredAt: expect.any(String) });
    const log = await eventLog();
    expect(log.filter((e) => e.message.startsWith('delivered')).length).toBe(2);
    expect(log.every((e) => e.userId === user.id || e.message.includes('endpoint #'))).toBe(true);
    expect(JSON.stringify(await h.api('GET', '/api/log?limit=1000'))).not.toContain(ep.secret.slice(6));
  });

  it('app changes send events with source "app"; a change that fails (and rolls back) sends none; the filter is honoured', async () => {
    h = await startHarness();
    const all = await receiver();
    const tagsOnly = await receiver();
    await addEndpoint(all.url);
    const filtered = await addEndpoint(tagsOnly.url, ['user.tags_changed']);

    const created = await h.api('POST', '/api/users', { email: 'bob@example.com', fields: { first_name: 'Bob' } });
    expect(created.status).toBe(201);
    expect((await h.api('POST', '/api/users', { email: 'bob@example.com' })).status).toBe(409);
    await h.api('PATCH', `/api/users/${created.body.id}`, { fields: { first_name: 'Robert' }, role: 'customer' });
    await h.api('POST', `/api/users/${created.body.id}/tags`, { apply: ['gold'], remove: ['absent'] });
    await eventually(() => all.received.length >= 3 && tagsOnly.received.length >= 1, 10_000, 'app events');
    await new Promise((r) => setTimeout(r, 600)); // nothing else arrives

    const userId = created.body.id;
    expect(all.events().map((e) => [e.type, e.data])).toEqual([
      ['user.created', { userId, email: 'bob@example.com', contactId: null, role: 'subscriber', tags: [], fields: { first_name: 'Bob' }, source: 'app' }],
      ['user.updated', { userId, fields: [{ name: 'first_name', from: 'Bob', to: 'Robert' }], role: { from: 'subscriber', to: 'customer' }, email: null, source: 'app' }],
      ['user.tags_changed', { userId, added: ['gold'], removed: [], source: 'app' }],
    ]);
    expect(tagsOnly.events().map((e) => e.type)).toEqual(['user.tags_changed']);
    expect(tagsOnly.events()[0]!.id).toBe(all.events()[2]!.id); // one event, one webhook-id, for every endpoint
    expect(verify(filtered.secret, tagsOnly.received[0]!.body, tagsOnly.received[0]!.headers as Record<string, string>).valid).toBe(true);
  });
});

describe('events — failures', () => {
  it('retries after 500 (same webhook-id, fresh timestamp and signature) until the receiver answers 2xx', async () => {
    const clock = new ManualClock(Date.now());
    h = await startHarness({ clock });
    const app = await receiver(({ n }) => (n <= 2 ? 500 : 204));
    const ep = await addEndpoint(app.url, ['user.created']);
    await h.api('POST', '/api/users', { email: 'carol@example.com' });

    await eventually(() => app.received.length === 1, 5000, 'first attempt');
    await eventually(async () => (await deliveries(ep.id))[0]?.state === 'failed', 5000, 'failed state');
    expect((await deliveries(ep.id))[0]).toMatchObject({ attempts: 1, lastStatus: 500, lastError: 'HTTP 500' });
    // Not before the backoff is over.
    await new Promise((r) => setTimeout(r, 700));
    expect(app.received.length).toBe(1);

    for (const n of [2, 3]) {
      await failedAttempt(ep.id, n - 1);
      clock.advance(6 * 3_600_000);
      await eventually(() => app.received.length === n, 5000, `attempt ${n}`);
    }
    const d = await eventually(async () => (await deliveries(ep.id)).find((x) => x.state === 'delivered'), 5000, 'delivered');
    expect(d).toMatchObject({ attempts: 3, lastStatus: 204, lastError: null });
    expect(new Set(app.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(app.received.map((r) => r.headers['webhook-timestamp'])).size).toBe(3);
    for (const r of app.received) {
      expect(verify(ep.secret, r.body, r.headers as Record<string, string>, { nowSeconds: Number(r.headers['webhook-timestamp']) }).valid).toBe(true);
    }
    const log = (await eventLog()).map((e) => `${e.level}: ${e.message}`);
    expect(log.filter((m) => /^warning: user.created .* failed \(attempt [12] of 15\): HTTP 500; retrying in/.test(m))).toHaveLength(2);
    expect(log.some((m) => m.startsWith('info: delivered user.created'))).toBe(true);
  });

  it('410 Gone disables the endpoint (logged); later events are not queued for it', async () => {
    h = await startHarness();
    const app = await receiver(() => 410);
    const ep = await addEndpoint(app.url);
    await h.api('POST', '/api/users', { email: 'dave@example.com' });
    const endpoint = await eventually(async () => (await h!.api('GET', '/api/endpoints')).body.endpoints.find((e: any) => !e.enabled), 5000, 'disabled endpoint');
    expect(endpoint.disabledReason).toMatch(/^answered 410 Gone on /);
    expect((await deliveries(ep.id))[0]).toMatchObject({ state: 'dead', attempts: 1, lastStatus: 410 });
    const log = await eventLog();
    expect(log.some((e) => e.level === 'warning' && /answered 410 Gone .*endpoint disabled/.test(e.message))).toBe(true);

    await h.api('POST', '/api/users', { email: 'erin@example.com' });
    await new Promise((r) => setTimeout(r, 700));
    expect(app.received).toHaveLength(1);
    expect(await deliveries(ep.id)).toHaveLength(1);
  });

  it('a delivery that keeps failing is dead after CRMSYNC_EVENT_MAX_ATTEMPTS attempts (timeouts and refused connections count)', async () => {
    const clock = new ManualClock(Date.now());
    h = await startHarness({ clock, env: { CRMSYNC_EVENT_MAX_ATTEMPTS: '3', CRMSYNC_EVENT_TIMEOUT_MS: '300' } });
    const app = await receiver(() => 503);
    const ep = await addEndpoint(app.url, ['user.created']);
    await h.api('POST', '/api/users', { email: 'frank@example.com' });
    await eventually(() => app.received.length === 1, 5000, 'attempt 1');
    await failedAttempt(ep.id, 1);
    // Attempt 2: the receiver is gone (connection refused).
    await app.close();
    receivers = receivers.filter((r) => r !== app);
    clock.advance(6 * 3_600_000);
    // A claim counts the attempt before its outcome is written: wait for the outcome itself.
    await eventually(async () => {
      const [d] = await deliveries(ep.id);
      return d?.state === 'failed' && d.attempts === 2 && /ECONNREFUSED|fetch failed/.test(d.lastError ?? '');
    }, 5000, 'attempt 2 recorded as a refused connection');
    clock.advance(6 * 3_600_000);
    const dead = await eventually(async () => (await deliveries(ep.id)).find((d) => d.state === 'dead'), 5000, 'dead');
    expect(dead).toMatchObject({ attempts: 3, nextAttemptAt: null });
    const log = await eventLog();
    expect(log.some((e) => e.level === 'error' && /^gave up on user.created .* after 3 attempts/.test(e.message))).toBe(true);
    // Dead is final.
    clock.advance(6 * 3_600_000);
    await new Promise((r) => setTimeout(r, 700));
    expect((await deliveries(ep.id))[0]).toMatchObject({ state: 'dead', attempts: 3 });
  });

  it('a receiver that does not answer in time is a failed attempt', async () => {
    h = await startHarness({ env: { CRMSYNC_EVENT_TIMEOUT_MS: '200' } });
    const { createServer } = await import('node:http');
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const ep = await addEndpoint(`http://127.0.0.1:${port}/slow`, ['user.created']);
      await h.api('POST', '/api/users', { email: 'gina@example.com' });
      const d = await eventually(async () => (await deliveries(ep.id)).find((x) => x.state === 'failed'), 5000, 'a failed attempt');
      expect(d.lastError).toMatch(/no answer within 200 ms/);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe('events — secret rotation', () => {
  it('after a rotation both secrets sign (two signatures, each valid); the old one stops after its grace period', async () => {
    h = await startHarness();
    const app = await receiver();
    const ep = await addEndpoint(app.url, ['user.created']);
    const rotated = await h.api('POST', `/api/endpoints/${ep.id}/rotate`, {});
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.secret as string;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(ep.secret);
    expect(rotated.body.secrets).toEqual([{ createdAt: expect.any(String), expiresAt: null }, { createdAt: expect.any(String), expiresAt: expect.any(String) }]);
    expect(Date.parse(rotated.body.secrets[1].expiresAt) - Date.now()).toBeGreaterThan(86_000_000);
    expect(JSON.stringify((await h.api('GET', '/api/endpoints')).body)).not.toContain(fresh.slice(6));

    await h.api('POST', '/api/users', { email: 'hana@example.com' });
    await eventually(() => app.received.length === 1, 5000, 'event');
    const r = app.received[0]!;
    const signatures = String(r.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(2);
    const one = (s: string) => ({ ...(r.headers as Record<string, string>), 'webhook-signature': s });
    expect(verify(fresh, r.body, one(signatures[0]!)).valid).toBe(true);
    expect(verify(ep.secret, r.body, one(signatures[1]!)).valid).toBe(true);
    expect(verify(ep.secret, r.body, one(signatures[0]!)).valid).toBe(false);

    // A rotation with no grace: only the newest secret signs from now on.
    const newest = (await h.api('POST', `/api/endpoints/${ep.id}/rotate`, { graceSeconds: 0 })).body;
    expect(newest.secrets).toHaveLength(1);
    await h.api('POST', '/api/users', { email: 'ivan@example.com' });
    await eventually(() => app.received.length === 2, 5000, 'second event');
    const second = app.received[1]!;
    expect(String(second.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verify(newest.secret, second.body, second.headers as Record<string, string>).valid).toBe(true);
    expect(verify([fresh, ep.secret], second.body, second.headers as Record<string, string>).valid).toBe(false);
    expect((await eventLog()).some((e) => e.message.includes('signing secret rotated'))).toBe(true);
  });

  it('rotate, delete and deliveries answer 404 for an unknown endpoint; bad input is 400 and changes nothing', async () => {
    h = await startHarness({ workers: false });
    expect((await h.api('POST', '/api/endpoints/99/rotate', {})).status).toBe(404);
    expect((await h.api('DELETE', '/api/endpoints/99')).status).toBe(404);
    expect((await h.api('GET', '/api/endpoints/99/deliveries')).status).toBe(404);
    for (const body of [{}, { url: 'ftp://example.com/x' }, { url: 'not a url' }, { url: 'https://example.com', events: ['user.deleted'] }, { url: 'https://example.com', events: [] }, { url: 'https://example.com', extra: 1 }]) {
      const res = await h.api('POST', '/api/endpoints', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect((await h.api('GET', '/api/endpoints')).body.endpoints).toEqual([]);
    const ep = await addEndpoint('https://example.com/hook');
    expect((await h.api('POST', `/api/endpoints/${ep.id}/rotate`, { graceSeconds: -1 })).status).toBe(400);
    expect((await h.api('DELETE', `/api/endpoints/${ep.id}`)).status).toBe(204);
    expect((await h.api('GET', '/api/endpoints')).body.endpoints).toEqual([]);
  });
});

describe('events — durable outbox', () => {
  it('after a restart, what was delivered is not sent again and what was pending is sent once', async () => {
    const database = await testDatabase();
    const config = loadConfig({ PORT: '0', CRMSYNC_DATABASE_URL: database.url, CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_API_TOKEN: API_TOKEN, CRMSYNC_CRM_RATE_LIMIT: '1000' });
    const start = (clock?: ManualClock) => startService(config, { clock, logger: pino({ level: 'silent' }), sandboxPort: 0, sandboxRateLimit: 0 });
    const app = await receiver();
    const api = async (url: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return res.json() as Promise<any>;
    };
    try {
      const first = await start();
      const ep = await api(first.url, 'POST', '/api/endpoints', { url: app.url, events: ['user.created'] });
      await api(first.url, 'POST', '/api/users', { email: 'delivered@example.com' });
      await eventually(async () => (await api(first.url, 'GET', `/api/endpoints/${ep.id}/deliveries`)).deliveries[0]?.state === 'delivered', 5000, 'first delivered');
      // The receiver goes down for the second event: it fails once and waits for its retry.
      app.respondWith(() => 503);
      await api(first.url, 'POST', '/api/users', { email: 'pending@example.com' });
      await eventually(async () => (await api(first.url, 'GET', `/api/endpoints/${ep.id}/deliveries`)).deliveries.some((d: any) => d.state === 'failed'), 5000, 'second failed once');
      await first.stop();

      app.respondWith(() => 200);
      // Restarted an hour later: the retry is due.
      const second = await start(new ManualClock(Date.now() + 3_600_000));
      try {
        await eventually(async () => (await api(second.url, 'GET', `/api/endpoints/${ep.id}/deliveries`)).deliveries.every((d: any) => d.state === 'delivered'), 5000, 'second delivered');
        await new Promise((r) => setTimeout(r, 700));
        const accepted = app.received.filter((r) => r.status === 200).map((r) => JSON.parse(r.body).data.email as string);
        expect(accepted).toEqual(['delivered@example.com', 'pending@example.com']);
        expect(app.received.map((r) => r.status)).toEqual([200, 503, 200]);
      } finally {
        await second.stop();
      }
    } finally {
      await database.cleanup();
    }
  });
});
