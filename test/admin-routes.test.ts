import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, startHarness, type Harness } from './support/harness.js';

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
    for (const url of ['/admin/']) {
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
  });
});
