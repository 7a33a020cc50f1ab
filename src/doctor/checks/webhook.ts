import { randomBytes } from 'node:crypto';
import { fail, mask, ok, warn, type CheckResult } from '../types.js';

interface Answer {
  status: number;
  contentType: string;
  body: unknown;
  server: string | null;
}

type Attempt = { answer: Answer } | { error: string };

async function call(url: string, init: RequestInit, timeoutMs: number): Promise<Attempt> {
  try {
    const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json', 'user-agent': 'crmsync-doctor', ...init.headers } });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: something other than crmsync answered */
    }
    return { answer: { status: res.status, contentType: res.headers.get('content-type') ?? '', body, server: res.headers.get('server') } };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return { error: `no answer within ${timeoutMs / 1000} s` };
    return { error: e.cause?.code ?? e.cause?.message ?? e.message };
  }
}

const errorCode = (a: Answer): string | null => {
  const b = a.body as { error?: { code?: unknown } } | null;
  return b && typeof b === 'object' && b.error && typeof b.error.code === 'string' ? b.error.code : null;
};
const isSuccess = (a: Answer) => a.status === 200 && (a.body as { success?: unknown } | null)?.success === true;
const describe = (a: Answer) => `HTTP ${a.status}${a.contentType ? `, ${a.contentType.split(';')[0]}` : ''}${a.server ? `, server "${a.server.slice(0, 60)}"` : ''}`;

/**
 * From outside the process, as a CRM would: the public webhook URL answers the `test` action,
 * and a probe parameter comes back (a proxy or firewall stripping the query string is the classic
 * failure). When the query is refused, the same test is sent in a form body to tell "wrong key"
 * from "query string stripped".
 */
export async function checkPublicWebhook(publicUrl: string, accessKey: string, options: { timeoutMs?: number } = {}): Promise<CheckResult[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const urlName = 'public webhook URL';
  const probeName = 'query parameters survive';
  const probe = randomBytes(9).toString('base64url');
  const base = publicUrl.replace(/\/$/, '');
  const shown = `${base}/?wpf_action=test&access_key=${mask(accessKey)}&crmsync_probe=${probe}`;
  const query = new URLSearchParams({ wpf_action: 'test', access_key: accessKey, crmsync_probe: probe });
  const viaQuery = await call(`${base}/?${query}`, {}, timeoutMs);

  if ('error' in viaQuery) {
    const refused = /ECONNREFUSED|ECONNRESET/.test(viaQuery.error);
    const dns = /ENOTFOUND|EAI_AGAIN/.test(viaQuery.error);
    const detail = `${base} did not answer (${viaQuery.error})${refused ? ': nothing is listening there — is the service running?' : ''}`;
    const fix = dns
      ? `the host name in CRMSYNC_PUBLIC_URL does not resolve: correct CRMSYNC_PUBLIC_URL (the address CRMs use to reach this server) or its DNS record`
      : refused
        ? 'the service must be running for this check: start it with `crmsync serve` (or check that its process manager started it); if it runs behind a reverse proxy, check that the proxy forwards to crmsync\'s PORT'
        : `a firewall or security group is probably dropping the connection: open the port of CRMSYNC_PUBLIC_URL to the internet (CRMs call from their own servers), or check that the service is running`;
    return [fail(urlName, detail, fix), warn(probeName, 'not checked: the webhook URL did not answer', 'fix the webhook URL first')];
  }
  const answer = viaQuery.answer;
  if (isSuccess(answer)) {
    const echoed = (answer.body as { probe?: unknown }).probe;
    const urlOk = ok(urlName, `${shown} answered {"success":true} from outside the process`);
    if (echoed === probe) return [urlOk, ok(probeName, 'the probe parameter came back unchanged: query strings reach crmsync intact')];
    return [
      urlOk,
      fail(
        probeName,
        echoed === undefined ? 'crmsync answered but the crmsync_probe parameter did not reach it: something on the way rewrites the query string' : 'the probe came back altered: something on the way rewrites the query string',
        'check the reverse proxy (nginx `proxy_pass` with a URI part, rewrite rules) or CDN page rules: the query string must be passed unchanged; or the service is an older crmsync that does not echo probes',
      ),
    ];
  }
  const code = errorCode(answer);
  if (code === 'invalid_access_key' || code === 'missing_action') {
    // crmsync answered but did not get (or accept) the key: try again with the parameters in a form body.
    const form = await call(`${base}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: query.toString() }, timeoutMs);
    if ('answer' in form && isSuccess(form.answer)) {
      return [
        ok(urlName, `${base}/ reaches crmsync (the test action succeeded with its parameters in a POST body)`),
        fail(
          probeName,
          'the same test with its parameters in the query string was refused: the query string is stripped on the way (a proxy, CDN or firewall), so every CRM webhook would be refused with invalid_access_key',
          'configure the reverse proxy to pass the query string (nginx: `proxy_pass http://127.0.0.1:PORT;` without a URI part, or add `$is_args$args`), and turn off CDN/firewall rules that drop query strings',
        ),
      ];
    }
    return [
      fail(
        urlName,
        `crmsync at ${base} refused the access key ${mask(accessKey)} (403 invalid_access_key)`,
        'the doctor uses CRMSYNC_ACCESS_KEY (or the key stored in the database); set the same CRMSYNC_ACCESS_KEY for `crmsync serve` and the doctor, and paste the webhook URL `crmsync serve` prints into your CRM',
      ),
      warn(probeName, 'not checked: the access key was refused', 'fix the access key first'),
    ];
  }
  if (code !== null) {
    return [fail(urlName, `crmsync answered the test action with ${describe(answer)} (${code})`, 'see the activity log (level error, source webhook) for why it was refused'), warn(probeName, 'not checked', 'fix the webhook URL first')];
  }
  // Not crmsync's JSON: someone else answered.
  const fix =
    answer.status === 502 || answer.status === 503 || answer.status === 504
      ? 'a reverse proxy answered but cannot reach crmsync: start the service (`crmsync serve`) and check the proxy\'s upstream address and port'
      : answer.status === 403 || answer.status === 406 || answer.status === 429
        ? 'a firewall or security plugin (Wordfence, Cloudflare WAF, mod_security…) blocks the request: allow the path `/` with `wpf_action` for your CRM\'s servers'
        : answer.status >= 300 && answer.status < 400
          ? 'the URL redirects (http→https, or another host): CRMs usually do not follow redirects; set CRMSYNC_PUBLIC_URL to the final URL'
          : 'something other than crmsync answers at CRMSYNC_PUBLIC_URL: wrong base URL (a path prefix, another site on that host), or the proxy forwards to the wrong service';
  return [fail(urlName, `${shown} did not get crmsync's answer: ${describe(answer)}`, fix), warn(probeName, 'not checked: crmsync did not answer', 'fix the webhook URL first')];
}
