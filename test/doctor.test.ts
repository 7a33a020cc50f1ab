import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatDoctor } from '../src/cli/doctor.js';
import { CrmWebhookError } from '../src/crm/errors.js';
import { runDoctor, type CheckResult } from '../src/doctor/index.js';
import { migrate, openDatabase } from '../src/store/database.js';
import { ACCESS_KEY, API_TOKEN, startHarness, type Harness } from './support/harness.js';

/**
 * Issue 6, troubleshooting: `crmsync doctor` against a running service (all green), and each
 * classic failure making the right check fail with a useful fix; every rejected webhook is logged
 * with its reason, source address and size.
 */
const BODY_LIMIT = 2048;
let h: Harness;
let dbUrl: string;
let proxy: Server;
let proxyUrl: string;

/** A reverse proxy that forwards everything to crmsync but drops the query string. */
function strippingProxy(target: string): Promise<Server> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: (req.url ?? '/').split('?')[0], headers: { ...req.headers, host: to.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end('bad gateway'));
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A port where nothing listens. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  h = await startHarness({ workers: false, env: { CRMSYNC_BODY_LIMIT: String(BODY_LIMIT) } });
  if (h.dbFile) dbUrl = `sqlite:${h.dbFile}`;
  else {
    // On the PostgreSQL run the doctor checks a migrated SQLite file of its own.
    dbUrl = `sqlite:${join(mkdtempSync(join(tmpdir(), 'crmsync-doctor-')), 'db.sqlite')}`;
    const db = openDatabase(dbUrl);
    await migrate(db);
    await db.destroy();
  }
  proxy = await strippingProxy(h.service.url);
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => proxy?.close(r));
  await h?.stop();
});

const env = (over: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  CRMSYNC_DATABASE_URL: dbUrl,
  CRMSYNC_ACCESS_KEY: ACCESS_KEY,
  CRMSYNC_CRM: 'sandbox',
  CRMSYNC_CRM_URL: h.sandbox.url,
  CRMSYNC_CRM_API_KEY: h.sandbox.apiKey,
  CRMSYNC_PUBLIC_URL: h.service.url,
  ...over,
});
const byName = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.name, r]));
const noSecrets = (results: CheckResult[]) => {
  const text = formatDoctor(results) + JSON.stringify(results);
  expect(text).not.toContain(ACCESS_KEY);
  expect(text).not.toContain(h.sandbox.apiKey);
  expect(text).not.toContain(API_TOKEN);
};

describe('crmsync doctor', () => {
  it('is all green against a running service, and says what it checked', async () => {
    const results = await runDoctor({ env: env(), timeoutMs: 5000 });
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['configuration', 'ok'],
      ['database', 'ok'],
      ['CRM credentials', 'ok'],
      ['CRM rate-limit headroom', 'ok'],
      ['clock skew', 'ok'],
      ['public webhook URL', 'ok'],
      ['query parameters survive', 'ok'],
    ]);
    const r = byName(results);
    expect(r['CRM rate-limit headroom']!.detail).toMatch(/requests are left|do not state/);
    expect(r['clock skew']!.detail).toMatch(/in step with the CRM/);
    expect(r['query parameters survive']!.detail).toMatch(/came back unchanged/);
    expect(formatDoctor(results)).toMatch(/All checks passed\./);
    noSecrets(results);
  });

  it('lists every configuration problem at once and stops there', async () => {
    const results = await runDoctor({ env: env({ CRMSYNC_PUBLIC_URL: 'not a url', CRMSYNC_WORKERS: 'many', CRMSYNC_ACCESS_KEY: 'short' }) });
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ name: 'configuration', status: 'fail' });
    for (const v of ['CRMSYNC_PUBLIC_URL', 'CRMSYNC_WORKERS', 'CRMSYNC_ACCESS_KEY']) expect(results[0]!.detail).toContain(v);
  });

  it('fails the database check when migrations have not run', async () => {
    const fresh = `sqlite:${join(mkdtempSync(join(tmpdir(), 'crmsync-doctor-')), 'empty.sqlite')}`;
    const r = byName(await runDoctor({ env: env({ CRMSYNC_DATABASE_URL: fresh }), timeoutMs: 5000 }));
    expect(r.database).toMatchObject({ status: 'fail', detail: expect.stringMatching(/migration\(s\) have not run/), fix: expect.stringMatching(/crmsync serve/) });
  });

  it('a wrong access key fails the webhook URL check and says which setting to align, without printing the key', async () => {
    const wrong = 'another-access-key-00000000';
    const results = await runDoctor({ env: env({ CRMSYNC_ACCESS_KEY: wrong }), timeoutMs: 5000 });
    const r = byName(results);
    expect(r['public webhook URL']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/refused the access key/), fix: expect.stringMatching(/CRMSYNC_ACCESS_KEY/) });
    expect(r['CRM credentials']!.status).toBe('ok');
    expect(formatDoctor(results)).not.toContain(wrong);
    noSecrets(results);
  });

  it('a wrong CRM API key fails the CRM credentials check', async () => {
    const results = await runDoctor({ env: env({ CRMSYNC_CRM_API_KEY: 'not-the-sandbox-key' }), timeoutMs: 5000 });
    const r = byName(results);
    expect(r['CRM credentials']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/refused the API key \(401\)/), fix: expect.stringMatching(/CRMSYNC_CRM_API_KEY/) });
    expect(formatDoctor(results)).not.toContain('not-the-sandbox-key');
    expect(r['public webhook URL']!.status).toBe('ok');
  });

  it('an unreachable public URL fails, saying the service must be running', async () => {
    const results = await runDoctor({ env: env({ CRMSYNC_PUBLIC_URL: `http://127.0.0.1:${await closedPort()}` }), timeoutMs: 5000 });
    const r = byName(results);
    expect(r['public webhook URL']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/ECONNREFUSED.*is the service running/), fix: expect.stringMatching(/crmsync serve/) });
    expect(r['query parameters survive']!.status).toBe('warn');
    expect(formatDoctor(results)).toMatch(/1 check\(s\) failed/);
  });

  it('a proxy that strips the query string fails the "query parameters survive" check with the proxy fix', async () => {
    const results = await runDoctor({ env: env({ CRMSYNC_PUBLIC_URL: proxyUrl }), timeoutMs: 5000 });
    const r = byName(results);
    expect(r['public webhook URL']!.status).toBe('ok');
    expect(r['query parameters survive']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/query string is stripped/), fix: expect.stringMatching(/proxy/) });
    noSecrets(results);
  });

  it('something else answering at the public URL (wrong base URL, security plugin) is a failure naming the cause', async () => {
    const other = createServer((_req, res) => res.writeHead(403, { 'content-type': 'text/html', server: 'waf' }).end('<h1>Blocked</h1>'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    try {
      const r = byName(await runDoctor({ env: env({ CRMSYNC_PUBLIC_URL: `http://127.0.0.1:${(other.address() as { port: number }).port}` }), timeoutMs: 5000 }));
      expect(r['public webhook URL']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/HTTP 403/), fix: expect.stringMatching(/security plugin/) });
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('the test action echoes a well-formed probe only', async () => {
    expect(await h.webhook({ wpf_action: 'test', crmsync_probe: 'abc_123-XYZ' })).toEqual({ status: 200, body: { success: true, probe: 'abc_123-XYZ' } });
    expect(await h.webhook({ wpf_action: 'test', crmsync_probe: '<script>' })).toEqual({ status: 200, body: { success: true } });
    expect(await h.webhook({ wpf_action: 'test' })).toEqual({ status: 200, body: { success: true } });
  });
});

type Entry = { level: string; message: string; context: Record<string, any> | null };

describe('rejected webhooks are logged with reason, source address and size', () => {
  const errorsFor = async (code: string) =>
    (await h.api<{ entries: Entry[] }>('GET', '/api/log?level=error&limit=1000')).body.entries.filter((e) => e.context?.code === code);
  const send = (path: string, init?: RequestInit) => fetch(h.service.url + path, init);
  const hook = (q: Record<string, string> = {}) => `/?${new URLSearchParams({ wpf_action: 'update', contact_id: '1', access_key: ACCESS_KEY, ...q })}`;

  async function expectLogged(code: string, status: number, request: () => Promise<Response>, bytes: number) {
    const before = (await errorsFor(code)).length;
    const res = await request();
    expect(res.status, code).toBe(status);
    const entries = await errorsFor(code);
    expect(entries.length, `${code} logged once`).toBe(before + 1);
    const entry = entries[0]!;
    expect(entry.message).toMatch(/^webhook refused: /);
    expect(entry.message).toMatch(new RegExp(`from (::ffff:)?127\\.0\\.0\\.1, ${bytes} bytes\\)$`));
    expect(entry.context).toMatchObject({ code, bytes, sourceIp: expect.stringMatching(/127\.0\.0\.1$/) });
    expect(JSON.stringify(entry)).not.toContain(ACCESS_KEY);
  }

  it('bad access key', async () => {
    await expectLogged('invalid_access_key', 403, () => send(hook({ access_key: 'wrong-key-0000000000000' })), 0);
  });

  it('bad signature', async () => {
    const spy = vi.spyOn(h.service.engine.crm, 'verifyWebhook').mockImplementation(() => {
      throw new CrmWebhookError('invalid_signature', 'the signature does not match the body');
    });
    try {
      const body = 'contact_id=1';
      await expectLogged('invalid_signature', 401, () => send(hook(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }), body.length);
    } finally {
      spy.mockRestore();
    }
  });

  it('unparseable body', async () => {
    const body = '{"contact": ';
    await expectLogged('malformed_body', 400, () => send(hook(), { method: 'POST', headers: { 'content-type': 'application/json' }, body }), body.length);
  });

  it('wrong content type, refused before the handler (415) and by the handler', async () => {
    const xml = '<contact id="1"/>';
    await expectLogged('unsupported_media_type', 415, () => send(hook(), { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml }), xml.length);
    await expectLogged('unsupported_media_type', 415, () => send(hook(), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }), 5);
  });

  it('too large (413, refused before the handler)', async () => {
    const body = `contact_id=1&pad=${'x'.repeat(BODY_LIMIT * 2)}`;
    await expectLogged('payload_too_large', 413, () => send(hook(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }), body.length);
  });
});
