import { afterEach, describe, expect, it } from 'vitest';
import { RateWindow } from './rate-window.js';
import { startSandbox, type Sandbox } from './index.js';

describe('RateWindow', () => {
  it('accepts `limit` calls per epoch second and counts the refused ones', () => {
    let now = 10_000_250;
    const window = new RateWindow(2, () => now);
    expect(window.hit()).toEqual({ allowed: true, limit: 2, remaining: 1, retryAfterSeconds: 1 });
    expect(window.hit()).toMatchObject({ allowed: true, remaining: 0 });
    expect(window.hit()).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    now = 10_001_000; // next window
    expect(window.hit()).toMatchObject({ allowed: true, remaining: 1 });
    expect(window.stats()).toEqual({ calls: 4, rateLimited: 1, maxPerSecond: 2, perSecond: { '10000': 2, '10001': 1 } });
  });

  it('does not reopen the current window when the stats are reset', () => {
    const window = new RateWindow(1, () => 5_000);
    window.hit();
    window.reset();
    expect(window.hit().allowed).toBe(false);
    expect(window.stats()).toMatchObject({ calls: 1, rateLimited: 1, maxPerSecond: 0 });
  });

  it('0 means unlimited', () => {
    const window = new RateWindow(0, () => 0);
    for (let i = 0; i < 50; i++) expect(window.hit().allowed).toBe(true);
    expect(window.stats().maxPerSecond).toBe(50);
  });
});

describe('sandbox API: rate limit', () => {
  let sb: Sandbox;
  afterEach(() => sb.close());

  it('answers 429 with Retry-After and RateLimit headers over the limit, and reports it in stats', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 3 });
    const get = () => fetch(`${sb.url}/api/tags`, { headers: { authorization: `Bearer ${sb.apiKey}` } });
    const responses = await Promise.all(Array.from({ length: 10 }, get));
    const limited = responses.filter((r) => r.status === 429);
    const accepted = responses.filter((r) => r.status === 200);
    // 10 calls in well under a second span at most two windows: at most 6 accepted.
    expect(accepted.length).toBeLessThanOrEqual(6);
    expect(limited.length).toBeGreaterThanOrEqual(4);
    const refused = limited[0]!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit-limit')).toBe('3');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(await refused.json()).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
    expect(accepted[0]!.headers.get('ratelimit-limit')).toBe('3');

    const stats = sb.stats();
    expect(stats).toMatchObject({ calls: 10, rateLimited: limited.length, maxPerSecond: 3 });
    expect(Object.values(stats.perSecond).reduce((a, b) => a + b, 0)).toBe(accepted.length);

    const overHttp = await fetch(`${sb.url}/_sandbox/stats`, { headers: { authorization: `Bearer ${sb.apiKey}` } });
    expect(await overHttp.json()).toEqual(stats); // control calls are not counted or limited

    const reset = await fetch(`${sb.url}/_sandbox/stats/reset`, { method: 'POST', headers: { authorization: `Bearer ${sb.apiKey}` } });
    expect(await reset.json()).toMatchObject({ calls: 0, rateLimited: 0, maxPerSecond: 0, perSecond: {}, webhooksSent: 0 });
  });

  it('delays /api/* responses by latencyMs', async () => {
    sb = await startSandbox({ port: 0, latencyMs: 80, rateLimit: 0 });
    const started = performance.now();
    const res = await fetch(`${sb.url}/api/tags`, { headers: { authorization: `Bearer ${sb.apiKey}` } });
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });
});

describe('sandbox API: forced 429s', () => {
  let sb: Sandbox;
  afterEach(() => sb.close());

  it('refuses exactly the next n calls, in-process or over HTTP, even when unlimited', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0 });
    const auth = { authorization: `Bearer ${sb.apiKey}` };
    sb.refuseNext(1);
    const refused = await fetch(`${sb.url}/api/tags`, { headers: auth });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${sb.url}/api/tags`, { headers: auth })).status).toBe(200);
    const set = await fetch(`${sb.url}/_sandbox/rate-limit`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"calls":2}' });
    expect(set.status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${sb.url}/api/tags`, { headers: auth })).status);
    expect(statuses).toEqual([429, 429, 200]);
    expect(sb.stats()).toMatchObject({ calls: 5, rateLimited: 3 });
  });
});
