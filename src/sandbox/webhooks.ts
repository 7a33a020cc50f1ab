import type { ChangeSource, SandboxContact } from './contact.js';
import { notificationBody, notificationUrl } from './notification.js';

/**
 * Outgoing change notifications. One sender, in order: a notification is POSTed
 * `duplicate` times, each POST retried a few times with a short backoff, then counted as
 * failed (never thrown). `hold` queues notifications until `release` — the controls tests
 * use to replay the orderings a real CRM produces (late, duplicated, bunched webhooks).
 */
export interface WebhookControls {
  hold?: boolean;
  duplicate?: number;
  delayMs?: number;
  /** crmsync's webhook URL (with wpf_action and access_key), or null for none. */
  url?: string | null;
  echoApiChanges?: boolean;
}

export interface WebhookStats {
  webhooksSent: number;
  webhooksHeld: number;
  webhooksFailed: number;
}

export interface SandboxWebhooksOptions {
  url: string | null;
  echoApiChanges: boolean;
  /** POST attempts per notification copy (default 3). */
  attempts?: number;
  /** First retry backoff, doubled each time (default 50 ms). */
  backoffMs?: number;
  /** Per-POST timeout (default 5 s). */
  timeoutMs?: number;
  log?: (message: string) => void;
}

interface Notification {
  contactId: string;
  version: number;
  body: URLSearchParams;
  done: () => void;
  delivered: Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SandboxWebhooks {
  private url: string | null;
  private echo: boolean;
  private holding = false;
  private duplicate = 1;
  private delayMs = 0;
  private readonly heldQueue: Notification[] = [];
  private readonly sendQueue: Notification[] = [];
  private sending = false;
  private closed = false;
  private readonly abort = new AbortController();
  private idleWaiters: (() => void)[] = [];
  private counts = { sent: 0, failed: 0 };

  constructor(private readonly options: SandboxWebhooksOptions) {
    this.url = checkUrl(options.url);
    this.echo = options.echoApiChanges;
  }

  /** Queue a notification for a change (the state's change listener). */
  notify(contact: SandboxContact, source: ChangeSource): void {
    if (this.closed || !this.url || source === 'seed' || (source === 'api' && !this.echo)) return;
    let done!: () => void;
    const delivered = new Promise<void>((resolve) => (done = resolve));
    const item = { contactId: contact.id, version: contact.version, body: notificationBody(contact, source, new Date()), done, delivered };
    if (this.holding) this.heldQueue.push(item);
    else this.enqueue([item]);
  }

  /** Queue notifications instead of sending them. `hold(false)` sends what was held. */
  hold(on = true): void {
    this.holding = on;
    if (!on) void this.release();
  }

  /** Send the held notifications (each `duplicate` times); resolves with their count once all were delivered or failed. */
  async release(): Promise<number> {
    const items = this.heldQueue.splice(0);
    this.enqueue(items);
    await Promise.all(items.map((i) => i.delivered));
    return items.length;
  }

  /** Every notification is POSTed n times (n ≥ 1). */
  setDuplicate(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError('duplicate must be a whole number ≥ 1');
    this.duplicate = n;
  }

  /** Wait this long before sending each notification. */
  setDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('delayMs must be ≥ 0');
    this.delayMs = ms;
  }

  setUrl(url: string | null): void {
    this.url = checkUrl(url);
  }

  setEcho(on: boolean): void {
    this.echo = on;
  }

  configure(controls: WebhookControls): void {
    if (controls.duplicate !== undefined) this.setDuplicate(controls.duplicate);
    if (controls.delayMs !== undefined) this.setDelay(controls.delayMs);
    if (controls.url !== undefined) this.setUrl(controls.url);
    if (controls.echoApiChanges !== undefined) this.setEcho(controls.echoApiChanges);
    if (controls.hold !== undefined) this.hold(controls.hold);
  }

  held(): { contactId: string; version: number }[] {
    return this.heldQueue.map(({ contactId, version }) => ({ contactId, version }));
  }

  /** Resolves when nothing is queued for sending or in flight (held notifications do not count). */
  idle(): Promise<void> {
    if (!this.sending && this.sendQueue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): WebhookStats {
    return { webhooksSent: this.counts.sent, webhooksHeld: this.heldQueue.length, webhooksFailed: this.counts.failed };
  }

  resetStats(): void {
    this.counts = { sent: 0, failed: 0 };
  }

  /** Stop: wait up to `graceMs` for what is in flight, then abort it and drop the rest. */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.abort.abort();
    for (const item of [...this.sendQueue.splice(0), ...this.heldQueue.splice(0)]) item.done();
  }

  private enqueue(items: Notification[]): void {
    this.sendQueue.push(...items);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (let item = this.sendQueue.shift(); item; item = this.sendQueue.shift()) {
        try {
          if (this.delayMs > 0) await sleep(this.delayMs);
          for (let copy = 0; copy < this.duplicate && !this.abort.signal.aborted; copy++) await this.deliver(item);
        } finally {
          item.done();
        }
      }
    } finally {
      this.sending = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async deliver(item: Notification): Promise<void> {
    const attempts = this.options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const url = this.url;
      if (!url) return;
      const target = notificationUrl(url, item.contactId);
      let problem: string;
      try {
        const response = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: item.body.toString(),
          redirect: 'manual',
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 5000)]),
        });
        await response.body?.cancel();
        if (response.status >= 200 && response.status < 300) {
          this.counts.sent++;
          return;
        }
        problem = `answered ${response.status}`;
      } catch (error) {
        problem = describeFailure(error);
      }
      if (attempt >= attempts || this.abort.signal.aborted) {
        this.counts.failed++;
        this.options.log?.(`webhook for contact ${item.contactId} failed after ${attempt} attempt(s): ${problem}`);
        return;
      }
      await sleep((this.options.backoffMs ?? 50) * 2 ** (attempt - 1));
    }
  }
}

/** The webhook URL carries crmsync's access key: check it without ever echoing it. */
function checkUrl(url: string | null): string | null {
  if (url === null) return null;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new RangeError('webhookUrl is not a valid URL');
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new RangeError('webhookUrl must be http(s)');
  return url;
}

/** A send failure, described without the URL (it carries the access key). */
function describeFailure(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  if (error instanceof Error && error.name === 'AbortError') return 'aborted';
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === 'string' ? `network error (${code})` : 'network error';
}
