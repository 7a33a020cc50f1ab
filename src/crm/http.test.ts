import { describe, expect, it } from 'vitest';
import { retryAfterMs, waitAfter429 } from './http.js';

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
});
