import { CrmError } from './errors.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * The one way adapters call a CRM's HTTP API: every attempt takes a rate-limiter token, has a
 * timeout, and a 429 pauses the shared limiter for the CRM's Retry-After before one more try.
 * Failures come out as `CrmError`s whose kind tells the queue whether to retry.
 */
export interface CrmHttpOptions {
  baseUrl: string;
  headers: Record<string, string>;
  limiter: RateLimiter;
  timeoutMs: number;
  /** How many 429s one call absorbs (waiting each time) before giving up to the queue. */
  maxRateLimitWaits?: number;
  onCall?: (outcome: CallOutcome) => void;
}

/** What one HTTP call to the CRM came back with (for metrics and the doctor's checks). */
export interface CallOutcome {
  /** 0 when no response came (network error, timeout). */
  status: number;
  rateLimited: boolean;
  headers?: Headers;
  /** Local time when the request was sent and when its response headers arrived. */
  sentAt?: number;
  receivedAt?: number;
}

export interface CrmRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | readonly (string | number)[] | undefined>;
  /** Sent as JSON unless `form` is set. */
  json?: unknown;
  form?: URLSearchParams;
}

export interface CrmResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** Longer 429 waits go back to the queue instead of holding a worker. */
const LONGEST_IN_CALL_WAIT_MS = 60_000;

/** Parses Retry-After: delta-seconds or an HTTP date. Defaults to one second. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (!header) return 1000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(header);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - now);
}

/**
 * How long a 429 asks us to wait: `Retry-After` when the CRM sends it, else the reset of its
 * rate-limit window as the CRM's own headers state it (Brevo `x-sib-ratelimit-reset`, the
 * IETF draft's `RateLimit-Reset`, `X-RateLimit-Reset` — seconds, or an epoch time), else one second.
 */
export function waitAfter429(headers: Headers, now = Date.now()): number {
  const retryAfter = headers.get('retry-after');
  if (retryAfter) return retryAfterMs(retryAfter, now);
  for (const name of ['x-sib-ratelimit-reset', 'ratelimit-reset', 'x-ratelimit-reset']) {
    const value = Number(headers.get(name));
    if (!headers.get(name) || !Number.isFinite(value) || value < 0) continue;
    // Large values are epoch times (seconds), small ones a delay in seconds.
    return value > 1e9 ? Math.max(0, value * 1000 - now) : value * 1000;
  }
  const interval = Number(headers.get('x-hubspot-ratelimit-interval-milliseconds'));
  if (headers.get('x-hubspot-ratelimit-remaining') === '0' && interval > 0) return interval;
  const keap = keapQuotaWait(headers, now);
  if (keap !== null) return keap;
  return 1000;
}

/**
 * Keap sends no Retry-After. Its quota headers say which bucket is empty: the daily quota
 * (`…-quota-available: 0`) lasts until its expiry time, or the documented 00:00 UTC reset when
 * that header is missing or unreadable; the per-minute throttle (`…-throttle-available: 0`) for
 * its interval.
 */
function keapQuotaWait(headers: Headers, now: number): number | null {
  if (headers.get('x-keap-product-quota-available') === '0') {
    const expiry = Number(headers.get('x-keap-product-quota-expiry-time'));
    const at = expiry > 1e12 ? expiry : expiry > 1e9 ? expiry * 1000 : NaN;
    if (at > now) return at - now;
    const midnight = new Date(now);
    midnight.setUTCHours(24, 0, 0, 0);
    return midnight.getTime() - now;
  }
  if (headers.get('x-keap-product-throttle-available') === '0') {
    const unit = { second: 1000, minute: 60_000, hour: 3_600_000 }[headers.get('x-keap-product-throttle-time-unit') ?? 'minute'] ?? 60_000;
    return unit * Math.max(1, Number(headers.get('x-keap-product-throttle-interval')) || 1);
  }
  return null;
}

export class CrmHttp {
  constructor(private readonly options: CrmHttpOptions) {}

  async request<T = unknown>(req: CrmRequest): Promise<CrmResponse<T>> {
    const url = new URL(req.path.replace(/^\//, ''), this.options.baseUrl.replace(/\/?$/, '/'));
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, String(v));
      else url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...this.options.headers };
    let body: string | undefined;
    if (req.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = req.form.toString();
    } else if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    }
    const method = req.method ?? 'GET';
    const maxWaits = this.options.maxRateLimitWaits ?? 2;
    for (let waits = 0; ; waits++) {
      await this.options.limiter.take();
      let response: Response;
      const sentAt = Date.now();
      try {
        response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
      } catch (error) {
        this.options.onCall?.({ status: 0, rateLimited: false });
        const reason = error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : 'network error';
        throw new CrmError('transient', `${method} ${url.pathname}: ${reason}`);
      }
      const rateLimited = response.status === 429;
      this.options.onCall?.({ status: response.status, rateLimited, headers: response.headers, sentAt, receivedAt: Date.now() });
      if (rateLimited) {
        const wait = waitAfter429(response.headers);
        this.options.limiter.pauseFor(wait);
        await response.body?.cancel();
        // A long wait (an exhausted daily quota) is not slept through here: the queue reschedules
        // the work for then and the worker is free meanwhile.
        if (waits < maxWaits && wait <= LONGEST_IN_CALL_WAIT_MS) continue;
        throw new CrmError('rate_limited', `${method} ${url.pathname}: rate limited (429)`, 429, wait);
      }
      const text = await response.text();
      let parsed: unknown = text;
      if (text && (response.headers.get('content-type') ?? '').includes('json')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new CrmError('transient', `${method} ${url.pathname}: invalid JSON in response (${response.status})`, response.status);
        }
      }
      if (response.status >= 500) {
        throw new CrmError('transient', `${method} ${url.pathname}: CRM answered ${response.status}`, response.status);
      }
      if (response.status >= 400 && response.status !== 404) {
        throw new CrmError('permanent', `${method} ${url.pathname}: CRM answered ${response.status}${describe(parsed)}`, response.status);
      }
      return { status: response.status, body: parsed as T, headers: response.headers };
    }
  }
}

/** A short, secret-free description of an error body (CRMs echo the request sometimes). */
function describe(body: unknown): string {
  if (typeof body === 'string') return body ? `: ${body.slice(0, 200)}` : '';
  try {
    return `: ${JSON.stringify(body).slice(0, 200)}`;
  } catch {
    return '';
  }
}
