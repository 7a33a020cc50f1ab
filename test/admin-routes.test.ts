import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_KEY, API_TOKEN, startHarness, type Harness } from './support/harness.js';

/** The admin UI's guards, through fastify inject on the real service: sessions, CSRF, bad input. */
describe('admin routes', () => {
  let h: Harness;
  const ORIGIN = 'http://crmsync.test';
  const host = 'crmsync.test';
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const inject = (opts: { method: 'GET' | 'POST'; url: string; cookie?: string; origin?: string | null; body?: Record<string, string> }) =>
    h.service.app.inject({
      method: opts.method,
      url: opts.url,
      headers: {
        host,
        ...(opts.cookie && { cookie: opts.cookie }),
        ...(opts.origin !== null && opts.method === 'POST' && { origin: opts.origin ?? ORIGIN }),
        ...(opts.body && { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      payload: opts.body ? form(opts.body) : undefined,
    });
  const signIn = async (credential = API_TOKEN) => {
    const res = await inject({ method: 'POST', url: '/admin/sign-in', body: { credential, next: '/admin/queue' } });
    const cookie = String(res.headers['set-cookie'] ?? '').split(';')[0]!;
    return { res, cookie };
  };

  beforeAll(async () => {
    h = await startHarness({ workers: false, env: { CRMSYNC_ADMIN_PASSWORD: 'correct horse battery staple' } });
  });
  afterAll(async () => h?.stop());

  it('sends every page but sign-in to sign-in, and answers 401 on the live JSON', async () => {
    for (const url of ['/admin/', '/admin/log', '/admin/users', '/admin/users/1', '/admin/queue', '/admin/setup', '/admin/guide']) {
      const res = await inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(303);
      expect(res.headers.location).toBe(`/admin/sign-in?next=${encodeURIComponent(url)}`);
    }
    expect((await inject({ method: 'GET', url: '/admin/dashboard.json' })).statusCode).toBe(401);
    const page = await inject({ method: 'GET', url: '/admin/sign-in' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<label for="credential">');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('refuses a wrong token with a clear message, sets no cookie, and logs nothing of what was typed', async () => {
    const { res } = await signIn('wrong-token-with-a-secret-0123');
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toContain('not a valid API token or admin password');
    const log = await h.api('GET', '/api/log?limit=20');
    const text = JSON.stringify(log.body);
    expect(text).toContain('admin sign-in refused');
    expect(text).not.toContain('wrong-token-with-a-secret');
  });

  it('signs in with the API token or the admin password; the cookie is HttpOnly, SameSite=Strict, scoped to /admin', async () => {
    const { res, cookie } = await signIn();
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/queue');
    const set = String(res.headers['set-cookie']);
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\/admin/);
    expect(set).not.toMatch(/Secure/); // public URL is http here
    expect(set).not.toContain(API_TOKEN);
    expect((await inject({ method: 'GET', url: '/admin/', cookie })).statusCode).toBe(200);
    const byPassword = await signIn('correct horse battery staple');
    expect(byPassword.res.statusCode).toBe(303);
    expect((await inject({ method: 'GET', url: '/admin/', cookie: byPassword.cookie })).statusCode).toBe(200);
  });

  it('does not follow a next= that leaves the admin UI', async () => {
    const res = await inject({ method: 'POST', url: '/admin/sign-in', body: { credential: API_TOKEN, next: '//evil.example/admin/' } });
    expect(res.headers.location).toBe('/admin/');
  });

  it('refuses a forged cookie and a signed-out session', async () => {
    expect((await inject({ method: 'GET', url: '/admin/', cookie: 'crmsync_admin=' + 'A'.repeat(43) })).statusCode).toBe(303);
    const { cookie } = await signIn();
    const out = await inject({ method: 'POST', url: '/admin/sign-out', cookie });
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
    expect((await inject({ method: 'GET', url: '/admin/', cookie })).statusCode).toBe(303);
  });

  it('refuses a POST from another origin or without Origin/Referer (CSRF), changing nothing', async () => {
    const { cookie } = await signIn();
    for (const origin of ['http://evil.example', null]) {
      const res = await inject({ method: 'POST', url: '/admin/sign-out', cookie, origin });
      expect(res.statusCode).toBe(403);
    }
    // The session survived the refused sign-out.
    expect((await inject({ method: 'GET', url: '/admin/', cookie })).statusCode).toBe(200);
    const login = await inject({ method: 'POST', url: '/admin/sign-in', origin: 'http://evil.example', body: { credential: API_TOKEN } });
    expect(login.statusCode).toBe(403);
    expect(login.headers['set-cookie']).toBeUndefined();
  });

  it('serves the live dashboard JSON to a session', async () => {
    const { cookie } = await signIn();
    const res = await inject({ method: 'GET', url: '/admin/dashboard.json', cookie });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.stats.dead).toBe('0');
    expect(body.chart).toContain('<svg');
    // The pages a POST redirects to, with their confirmation.
    for (const url of ['/admin/queue?state=dead&done=replayed', '/admin/queue?done=discarded']) {
      const page = await inject({ method: 'GET', url, cookie });
      expect(page.statusCode, url).toBe(200);
      expect(page.body).toContain('role="status"');
    }
  });

  it('answers bad input on admin pages with a clear HTML error, changing nothing', async () => {
    const { cookie } = await signIn();
    const bad = [
      ['/admin/users/abc', 400, 'id'],
      ['/admin/users/999999', 404, 'user #999999 not found'],
      ['/admin/log?level=loud', 400, 'level'],
      ['/admin/log?since=yesterday', 400, 'YYYY-MM-DDTHH:MM'],
      ['/admin/queue?state=zombie', 400, 'state'],
      ['/admin/queue/424242', 404, 'no job #424242'],
      ['/admin/setup?action=drop_tables', 400, 'action'],
    ] as const;
    for (const [url, status, text] of bad) {
      const res = await inject({ method: 'GET', url, cookie });
      expect(res.statusCode, url).toBe(status);
      expect(res.headers['content-type'], url).toMatch(/text\/html/);
      expect(res.body, url).toContain(text);
    }
    const before = (await h.api('GET', '/api/queue')).body.counts;
    expect((await inject({ method: 'POST', url: '/admin/queue/424242/discard', cookie, body: { reason: 'not needed' } })).statusCode).toBe(404);
    expect((await inject({ method: 'POST', url: '/admin/queue/424242/replay', cookie })).statusCode).toBe(404);
    expect((await inject({ method: 'POST', url: '/admin/users/999999/reconcile', cookie })).statusCode).toBe(404);
    expect((await h.api('GET', '/api/queue')).body.counts).toEqual(before);
  });

  it('discards a dead letter only with a reason, and logs the reason as a notice', async () => {
    const { cookie } = await signIn();
    const { db, clock } = h.service.engine;
    const now = clock.now();
    const [row] = await db
      .insertInto('jobs')
      .values({ key: 'c:dead-1', action: 'update', contact_id: 'dead-1', user_id: null, role: null, send_notification: 0, state: 'dead', attempts: 8, run_at: now, locked_by: null, locked_at: null, last_error: 'CRM answered 500', webhooks: 1, first_seen_at: now, created_at: now, updated_at: now })
      .returning('id')
      .execute();
    const id = Number(row!.id);
    const page = await inject({ method: 'GET', url: `/admin/queue/${id}`, cookie });
    expect(page.body).toContain('CRM answered 500');
    const noReason = await inject({ method: 'POST', url: `/admin/queue/${id}/discard`, cookie, body: { reason: ' ' } });
    expect(noReason.statusCode).toBe(303);
    expect(noReason.headers.location).toContain('problem=');
    expect((await h.api('GET', '/api/queue/dead')).body.jobs.map((j: { id: number }) => j.id)).toContain(id);
    const res = await inject({ method: 'POST', url: `/admin/queue/${id}/discard`, cookie, body: { reason: 'contact deleted in the CRM' } });
    expect(res.statusCode).toBe(303);
    expect((await h.api('GET', '/api/queue/dead')).body.jobs.map((j: { id: number }) => j.id)).not.toContain(id);
    const log = await h.api('GET', '/api/log?level=notice&contact_id=dead-1');
    expect(log.body.entries[0].message).toBe(`dead job #${id} (update) discarded: contact deleted in the CRM`);
  });

  it('builds the webhook URL with the access key and the add options', async () => {
    const { cookie } = await signIn();
    const res = await inject({ method: 'GET', url: '/admin/setup?action=add&role=customer&send_notification=1', cookie });
    const url = /id="webhook-url" readonly value="([^"]+)"/.exec(res.body)?.[1]?.replaceAll('&amp;', '&');
    const parsed = new URL(url!);
    expect(Object.fromEntries(parsed.searchParams)).toEqual({ wpf_action: 'add', access_key: ACCESS_KEY, role: 'customer', send_notification: 'true' });
  });

  it('runs the doctor\'s CRM check against the running sandbox CRM', async () => {
    const { cookie } = await signIn();
    const res = await inject({ method: 'POST', url: '/admin/setup/crm-check', cookie });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/<strong class="status-ok">OK<\/strong> CRM credentials: .*answered a read/);
  });

  it('shows a user\'s grants and why they exist', async () => {
    const { cookie } = await signIn();
    const created = await h.api('POST', '/api/users', { email: 'granted@example.com' });
    const granted = await h.api('POST', `/api/users/${created.body.id}/grants`, { resource: 'course-101', source: 'purchase', note: 'order 7' });
    expect(granted.status).toBe(201);
    const page = await inject({ method: 'GET', url: `/admin/users/${created.body.id}`, cookie });
    expect(page.body).toMatch(/<strong>course-101<\/strong><\/td><td>purchase <span class="hint">order 7<\/span>/);
  });

  it('does not offer to rotate values fixed by the environment', async () => {
    const { cookie } = await signIn();
    const page = await inject({ method: 'GET', url: '/admin/setup', cookie });
    expect(page.body).toContain('set by CRMSYNC_ACCESS_KEY');
    expect(page.body).not.toContain('action="/admin/setup/rotate/access-key"');
    const res = await inject({ method: 'POST', url: '/admin/setup/rotate/access-key', cookie });
    expect(res.statusCode).toBe(409);
    expect(h.service.accessKey).toBe(ACCESS_KEY);
  });
});

describe('admin credential rotation', () => {
  let h: Harness;
  afterAll(async () => h?.stop());

  it('rotates the access key from the set-up page: the new value shown once, the old one still accepted', async () => {
    h = await startHarness({ workers: false, storedSecrets: true });
    const origin = new URL(h.service.url).origin;
    const post = (url: string, cookie?: string, body?: Record<string, string>) =>
      h.service.app.inject({ method: 'POST', url, headers: { origin, host: new URL(origin).host, ...(cookie && { cookie }), ...(body && { 'content-type': 'application/x-www-form-urlencoded' }) }, payload: body ? new URLSearchParams(body).toString() : undefined });
    const signedIn = await post('/admin/sign-in', undefined, { credential: h.service.apiToken, next: '/admin/setup' });
    const cookie = String(signedIn.headers['set-cookie']).split(';')[0]!;
    const old = h.service.accessKey;
    const res = await post('/admin/setup/rotate/access-key', cookie);
    expect(res.statusCode).toBe(200);
    const shown = /id="rotated-value" readonly value="([^"]+)"/.exec(res.body)?.[1];
    expect(shown).toBe(h.service.accessKey);
    expect(shown).not.toBe(old);
    for (const key of [old, shown!]) expect((await fetch(`${h.service.url}/?wpf_action=test&access_key=${encodeURIComponent(key)}`)).status).toBe(200);
    const again = await h.service.app.inject({ method: 'GET', url: '/admin/setup', headers: { cookie } });
    expect(again.body).not.toContain('id="rotated-value"'); // the box with the new value is on the rotation's answer only
    expect(JSON.stringify((await h.api('GET', '/api/log?limit=20')).body)).not.toContain(shown!);
  });
});
