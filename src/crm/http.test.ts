import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CrmError } from './errors.js';
import { CrmHttp, retryAfterMs, waitAfter429 } from './http.js';

describe('waiting after a 429', () => {
  const now = Date.UTC(2026, 10, 28, 12, 0, 0);
  it('honours Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterMs('30', now)).toBe(30_000);
    expect(retryAfterMs(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(waitAfter429(new Headers({ 'retry-after': '2' }), now)).toBe(2000);
  });
  it("falls back to the CRM's rate-limit reset headers", () => {
    expect(waitAfter429(new Headers({ 'x-sib-ratelimit-reset': '12' }), now)).toBe(12_000);
    expect(waitAfter429(new Headers({ 'ratelimit-reset': '3' }), now)).toBe(3000);
    expect(waitAfter429(new Headers({ 'x-ratelimit-reset': String(now / 1000 + 7) }), now)).toBe(7000);
    expect(waitAfter429(new Headers({ 'x-hubspot-ratelimit-remaining': '0', 'x-hubspot-ratelimit-interval-milliseconds': '10000' }), now)).toBe(10_000);
  });
  it('waits one second when nothing says how long', () => expect(waitAfter429(new Headers(), now)).toBe(1000));
  it("reads Keap's quota headers: the daily quota until its expiry (or 00:00 UTC), the throttle for its interval", () => {
    const daily = { 'x-keap-product-quota-available': '0', 'x-keap-product-quota-used': '30000' };
    expect(waitAfter429(new Headers({ ...daily, 'x-keap-product-quota-expiry-time': String(now + 90_000) }), now)).toBe(90_000);
    expect(waitAfter429(new Headers({ ...daily, 'x-keap-product-quota-expiry-time': String(now / 1000 + 90) }), now)).toBe(90_000);
    expect(waitAfter429(new Headers({ ...daily, 'x-keap-product-quota-expiry-time': '158663200' }), now)).toBe(12 * 3_600_000);
    expect(waitAfter429(new Headers(daily), now)).toBe(12 * 3_600_000);
    expect(waitAfter429(new Headers({ 'x-keap-product-quota-available': '12', 'x-keap-product-throttle-available': '0', 'x-keap-product-throttle-time-unit': 'minute', 'x-keap-product-throttle-interval': '1' }), now)).toBe(60_000);
  });
});

describe('CrmHttp and a long 429 wait', () => {
  it('hands an exhausted quota back to the queue at once instead of holding the worker', async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      res.writeHead(429, { 'content-type': 'application/json', 'x-keap-product-quota-available': '0' }).end('{"code":"429","message":"Quota Exceeded"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const paused: number[] = [];
    const http = new CrmHttp({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      headers: {},
      timeoutMs: 5000,
      limiter: { take: async () => undefined, pauseFor: (ms) => paused.push(ms) },
    });
    const error = await http.request({ path: '/contacts/1' }).catch((e: unknown) => e);
    server.close();
    expect(error).toBeInstanceOf(CrmError);
    expect((error as CrmError).kind).toBe('rate_limited');
    expect((error as CrmError).retryAfterMs).toBeGreaterThan(60_000);
    expect(calls).toBe(1);
    expect(paused).toHaveLength(1);
  });
});
