import { systemClock } from '../../clock.js';
import type { Config } from '../../config.js';
import { CrmError } from '../../crm/errors.js';
import { TokenBucket } from '../../crm/rate-limiter.js';
import { crms } from '../../crm/registry.js';
import { fail, ok, warn, type CheckResult } from '../types.js';

export interface CrmTarget {
  url: string;
  apiKey: string;
}

/** What one cheap read through the adapter told us: the result, and the CRM's last response headers. */
interface CrmProbe {
  result: CheckResult;
  headers: Headers | null;
  /** Local time halfway through the request that returned `headers`. */
  localMs: number;
  /** Whether this CRM signs its webhooks (then clock skew matters). */
  signs: boolean;
}

/**
 * The CRM credentials work: one cheap read (`listTags()`) through the real adapter, with the
 * adapter's own rate limiter. The response headers are kept for the headroom and clock checks.
 */
export async function checkCrmCredentials(config: Readonly<Config>, target: CrmTarget): Promise<CrmProbe> {
  const name = 'CRM credentials';
  const module = crms[config.crm.name];
  const seen: { headers: Headers | null; localMs: number; signs: boolean } = { headers: null, localMs: Date.now(), signs: false };
  const crm = module.create({
    baseUrl: target.url,
    apiKey: target.apiKey,
    webhookSecret: config.crm.webhookSecret,
    fieldMap: { ...module.defaultFieldMap, ...config.fields },
    limiter: new TokenBucket({ requests: 5, perMs: 1000 }),
    clock: systemClock,
    timeoutMs: Math.min(config.crm.timeoutMs, 15_000),
    onCall: ({ headers, sentAt, receivedAt }) => {
      if (!headers || sentAt === undefined || receivedAt === undefined) return;
      seen.headers = headers;
      seen.localMs = Math.round((sentAt + receivedAt) / 2);
    },
  });
  seen.signs = crm.capabilities.signsWebhooks;
  try {
    const tags = await crm.listTags();
    return { result: ok(name, `${crm.name} at ${target.url} answered a read (${tags.length} tags)`), ...seen };
  } catch (error) {
    const e = error as Error;
    if (error instanceof CrmError && (error.status === 401 || error.status === 403)) {
      return { result: fail(name, `${crm.name} at ${target.url} refused the API key (${error.status})`, 'set CRMSYNC_CRM_API_KEY to a valid key for this account (the CRM\'s API settings page); check that it has read access to contacts and tags'), ...seen };
    }
    if (error instanceof CrmError && error.status === 429) {
      return { result: warn(name, `${crm.name} answered 429 (rate limited): the key could not be confirmed right now`, 'another client is using the whole API allowance; try again in a minute, or lower CRMSYNC_CRM_RATE_LIMIT'), ...seen };
    }
    if (error instanceof CrmError && error.status === 404) {
      return { result: fail(name, `${crm.name} answered 404 at ${target.url}: wrong API URL`, 'check CRMSYNC_CRM_URL (the account\'s API base URL, as the CRM shows it in its API settings)'), ...seen };
    }
    return { result: fail(name, `cannot read from ${crm.name} at ${target.url}: ${e.message}`, 'check CRMSYNC_CRM_URL, the server\'s outbound network access (DNS, firewall, proxy), and that the CRM is up'), ...seen };
  }
}

/** Pairs of (remaining, limit) headers CRMs send, in the order they are tried. */
const HEADROOM_HEADERS: [string, string][] = [
  ['ratelimit-remaining', 'ratelimit-limit'],
  ['x-ratelimit-remaining', 'x-ratelimit-limit'],
  ['x-sib-ratelimit-remaining', 'x-sib-ratelimit-limit'],
  ['x-hubspot-ratelimit-remaining', 'x-hubspot-ratelimit-max'],
  ['x-rate-limit-remaining', 'x-rate-limit-limit'],
];

/** Rate-limit headroom, where the CRM's response headers state it. */
export function checkRateLimitHeadroom(config: Readonly<Config>, headers: Headers | null): CheckResult {
  const name = 'CRM rate-limit headroom';
  const configured = config.crm.rateLimit ? `CRMSYNC_CRM_RATE_LIMIT=${config.crm.rateLimit}/s` : `the adapter's documented limit`;
  if (!headers) return ok(name, `not measured (no CRM response); crmsync paces calls by ${configured}`);
  for (const [remainingName, limitName] of HEADROOM_HEADERS) {
    const remaining = Number(headers.get(remainingName) ?? NaN);
    const limit = Number(headers.get(limitName) ?? NaN);
    if (!Number.isFinite(remaining)) continue;
    const of = Number.isFinite(limit) && limit > 0 ? ` of ${limit}` : '';
    if (remaining <= 0 || (Number.isFinite(limit) && limit > 0 && remaining / limit < 0.1)) {
      return warn(
        name,
        `the CRM says ${remaining}${of} requests are left in its current window`,
        `another application shares this API allowance, or crmsync's pace is above the CRM's limit: lower CRMSYNC_CRM_RATE_LIMIT (now ${configured}) or reduce the other client's use`,
      );
    }
    return ok(name, `the CRM says ${remaining}${of} requests are left in its current window`);
  }
  return ok(name, `the CRM's responses do not state its limit; crmsync paces calls by ${configured}`);
}

/** Clock skew: the CRM's `Date` header against the local clock (signatures carry timestamps). */
export function checkClockSkew(config: Readonly<Config>, signs: boolean, headers: Headers | null, localMs: number): CheckResult {
  const name = 'clock skew';
  const date = headers?.get('date');
  const remote = date ? Date.parse(date) : NaN;
  if (!date || Number.isNaN(remote)) return ok(name, 'not measured: the CRM sent no Date header');
  const skew = Math.round((localMs - remote) / 1000);
  // The Date header has one-second resolution.
  const words = Math.abs(skew) <= 1 ? 'in step with the CRM (within a second)' : `${Math.abs(skew)} s ${skew > 0 ? 'ahead of' : 'behind'} the CRM`;
  if (Math.abs(skew) > 60) {
    const why = signs ? `${config.crm.name} signs its webhooks with a timestamp; a skewed clock makes valid signatures look expired or replayed` : 'log times will not match the CRM\'s';
    return signs
      ? warn(name, `this server's clock is ${words}: ${why}`, 'enable time synchronisation (systemd-timesyncd, chrony or ntpd) on this server')
      : warn(name, `this server's clock is ${words} (${why})`, 'enable time synchronisation (systemd-timesyncd, chrony or ntpd) on this server');
  }
  return ok(name, `this server's clock is ${words}${signs ? '' : ` (${config.crm.name} does not sign webhooks)`}`);
}
