import { CrmWebhookError } from '../crm/errors.js';
import type { WebhookParse, WebhookRequest } from '../crm/types.js';
import { roleForWebhook } from '../domain/role.js';
import type { Engine } from '../engine.js';
import { AppError } from '../errors.js';
import type { Redactor } from '../redact.js';
import { contactKey } from '../store/jobs.js';
import type { Reconciler } from '../reconcile/reconciler.js';
import type { PassReport } from '../reconcile/report.js';
import { accessKeyMatches } from './access-key.js';
import { renderDebugPage } from './debug-page.js';
import { GroupCommit } from './group-commit.js';
import { ingestWebhooks, type IncomingWebhook, type IngestResult } from './ingest.js';
import { parseWebhookParams, pickParam, WEBHOOK_PARAMS } from './webhook-params.js';

/** The probe value `crmsync doctor` may send with the `test` action (echoed back when well-formed). */
const PROBE = /^[A-Za-z0-9_-]{1,64}$/;

const EARLY_CODES = new Set(['payload_too_large', 'unsupported_media_type', 'malformed_body', 'invalid_request']);

export interface RawWebhook {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ip: string | null;
}

export type WebhookOutcome =
  | { kind: 'test'; probe?: string }
  | { kind: 'queued'; action: string; contacts: string[] }
  | { kind: 'debug'; html: string }
  | { kind: 'ignored'; reason: string }
  | { kind: 'handshake'; status: number; headers: Record<string, string>; body: unknown };

/**
 * Webhook ingress: authenticate, find the contacts, store durably (group commit), answer.
 * Returns data; `api/error-handler.ts` and the route turn outcomes and errors into HTTP.
 */
export class WebhookIngress {
  private readonly committer: GroupCommit<IncomingWebhook, IngestResult>;

  constructor(
    private readonly deps: {
      engine: Engine;
      reconciler: Reconciler;
      accessKeys: () => readonly string[];
      redact: Redactor;
      onStored: () => void;
    },
  ) {
    this.committer = new GroupCommit((items) => ingestWebhooks(deps.engine.db, items));
  }

  async handle(raw: RawWebhook, options: { debug: boolean }): Promise<WebhookOutcome> {
    const { engine } = this.deps;
    const url = new URL(raw.url, 'http://localhost');
    const contentType = String(raw.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    let fields: Record<string, unknown>;
    try {
      fields = parseBody(raw.body, contentType);
    } catch (error) {
      if (error instanceof AppError) await this.reject(error.code, `webhook refused: ${error.message}`, this.shape(raw, url.searchParams, contentType, {}), raw, error);
      throw error;
    }
    const shape = this.shape(raw, url.searchParams, contentType, fields);

    if (!accessKeyMatches(pickParam(url.searchParams, fields, 'access_key'), this.deps.accessKeys())) {
      await this.reject('invalid_access_key', 'webhook refused: missing or wrong access key', shape, raw);
      throw new AppError('invalid_access_key', 'missing or wrong access_key');
    }
    let params;
    try {
      params = parseWebhookParams(url.searchParams, fields);
    } catch (error) {
      if (error instanceof AppError) await this.reject(error.code, `webhook refused: ${error.message}`, shape, raw, error);
      throw error;
    }
    if (params.action === 'test') {
      // `crmsync doctor` sends a probe value to see that query parameters survive proxies on the way.
      const probe = url.searchParams.get('crmsync_probe');
      return probe !== null && PROBE.test(probe) ? { kind: 'test', probe } : { kind: 'test' };
    }

    const request: WebhookRequest = { method: raw.method, url: raw.url, publicUrl: engine.publicUrl + raw.url, headers: raw.headers, body: raw.body, fields };
    let parsed: WebhookParse;
    try {
      engine.crm.verifyWebhook(request);
      parsed = params.contactId ? { contactIds: [params.contactId] } : engine.crm.parseWebhook(request);
    } catch (error) {
      // The adapter refuses a bad signature or a payload it cannot read: a typed 4xx, never a 500.
      if (!(error instanceof CrmWebhookError)) throw error;
      await this.reject(error.code, `webhook refused: ${error.message}`, shape, raw);
      throw new AppError(error.code, error.message);
    }
    if (parsed.handshake) {
      await engine.log.write({ level: 'info', source: 'webhook', message: `answered ${engine.crm.name}'s webhook verification handshake`, context: { request: shape } });
      return { kind: 'handshake', status: parsed.handshake.status, headers: parsed.handshake.headers ?? {}, body: parsed.handshake.body ?? null };
    }
    const { contactIds } = parsed;
    if (contactIds.length === 0 && parsed.ignored) {
      await engine.log.write({ level: 'info', source: 'webhook', message: `webhook ignored: ${parsed.ignored}`, context: { request: shape } });
      return { kind: 'ignored', reason: parsed.ignored };
    }
    if (contactIds.length === 0) {
      await this.reject('contact_not_identified', 'webhook refused: no contact_id in the URL and none found in the payload', shape, raw);
      throw new AppError('contact_not_identified', 'no contact_id in the URL and none found in the payload');
    }

    const notices: string[] = [];
    let role: string | null = null;
    if (params.role) {
      const decision = roleForWebhook(engine.roles, params.role);
      role = decision.role;
      if (decision.notice) notices.push(decision.notice);
    }
    const stored = await this.committer.submit({
      action: params.action,
      contactIds,
      role,
      sendNotification: params.sendNotification,
      receivedAt: engine.clock.now(),
      request: shape,
      sourceIp: raw.ip,
      notices,
    });
    // Stored: from here on the webhook survives a crash.
    engine.metrics.webhooksReceived.inc({ action: params.action });
    const coalesced = stored.contacts.filter((c) => c.coalesced).length;
    if (coalesced > 0) engine.metrics.webhooksCoalesced.inc(coalesced);
    if (!options.debug) {
      this.deps.onStored();
      return { kind: 'queued', action: params.action, contacts: contactIds };
    }
    // The debug page reconciles right here, so the workers are not woken to race it for the job.
    const reports: PassReport[] = [];
    const pending: string[] = [];
    for (const contactId of contactIds) {
      const { claimed, reports: passes } = await this.deps.reconciler.runOnce({ key: contactKey(contactId), limit: 1 });
      if (claimed === 0) pending.push(contactId);
      reports.push(...passes);
    }
    return { kind: 'debug', html: renderDebugPage({ request: shape, reports, pending }) };
  }

  /** The request as logs may show it: allow-listed parameters, body keys, sizes; no secrets. */
  private shape(raw: RawWebhook, query: URLSearchParams, contentType: string, fields: Record<string, unknown>): Record<string, unknown> {
    const params: Record<string, string> = {};
    for (const name of WEBHOOK_PARAMS) {
      const v = query.get(name);
      if (v !== null) params[name] = v.slice(0, 200);
    }
    return this.deps.redact({
      method: raw.method,
      query: params,
      contentType: contentType || null,
      bytes: raw.body.length,
      body: Object.fromEntries(Object.entries(fields).slice(0, 50).map(([k, v]) => [k.slice(0, 100), typeof v === 'string' ? v.slice(0, 200) : v])),
      userAgent: typeof raw.headers['user-agent'] === 'string' ? raw.headers['user-agent'].slice(0, 200) : null,
    });
  }

  /**
   * Logs a refused webhook with the reason, the source address and the size, so "the CRM says it
   * sent it" can be answered. `error`, when given, is remembered so the error path does not log it again.
   */
  private async reject(code: string, message: string, shape: Record<string, unknown>, raw: RawWebhook | { ip: string | null; bytes: number }, error?: Error): Promise<void> {
    const { engine } = this.deps;
    const bytes = 'body' in raw ? raw.body.length : raw.bytes;
    if (error) this.logged.add(error);
    engine.metrics.webhooksRejected.inc({ code });
    const from = raw.ip ?? 'unknown address';
    await engine.log.write({
      level: 'error',
      source: 'webhook',
      message: `${message} (from ${from}, ${bytes} bytes)`,
      context: { code, sourceIp: raw.ip, bytes, request: shape },
    });
  }

  /**
   * A webhook request refused before the handler ran (body too large, unsupported content type,
   * unreadable body): called from the route's error hook. Errors the handler already logged are skipped.
   */
  async rejectedEarly(request: { method: string; url: string; headers: Record<string, string | string[] | undefined>; ip: string | null }, code: string, message: string, error: Error): Promise<void> {
    // Only what never reached the handler: everything the handler refuses is logged there.
    if (this.logged.has(error) || !EARLY_CODES.has(code)) return;
    const url = new URL(request.url, 'http://localhost');
    const contentType = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const declared = Number(request.headers['content-length']);
    const bytes = Number.isFinite(declared) && declared >= 0 ? declared : 0;
    const raw: RawWebhook = { method: request.method, url: request.url, headers: request.headers, body: Buffer.alloc(0), ip: request.ip };
    const shape = { ...this.shape(raw, url.searchParams, contentType, {}), bytes };
    await this.reject(code, `webhook refused: ${message}`, shape, { ip: request.ip, bytes }, error);
  }

  private readonly logged = new WeakSet<Error>();
}

/** Form and JSON bodies become fields; anything else with a body is refused (415). */
export function parseBody(body: Buffer, contentType: string): Record<string, unknown> {
  if (body.length === 0) return {};
  if (contentType === 'application/x-www-form-urlencoded') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return out;
  }
  if (contentType === 'application/json' || contentType.endsWith('+json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AppError('malformed_body', 'the body is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object') throw new AppError('malformed_body', 'a JSON body must be an object or an array');
    return Array.isArray(parsed) ? { events: parsed } : (parsed as Record<string, unknown>);
  }
  throw new AppError('unsupported_media_type', 'webhook bodies must be application/x-www-form-urlencoded or application/json');
}
