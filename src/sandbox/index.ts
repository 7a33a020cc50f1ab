import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { SandboxDeps } from './deps.js';
import { RateWindow } from './rate-window.js';
import { seedDemoContacts } from './seed.js';
import { buildSandboxServer } from './server.js';
import { SandboxState } from './state.js';
import { collectStats, type SandboxStats } from './stats.js';
import { SandboxWebhooks } from './webhooks.js';
import { closeApp } from '../close-app.js';

export type { SandboxContact, ChangeSource } from './contact.js';
export type { SandboxStats } from './stats.js';
export type { ContactInput, TagDelta, UserEdit, StaleReads } from './state.js';
export type { WebhookControls } from './webhooks.js';
export { SandboxState, SandboxWebhooks, buildSandboxServer };

export interface SandboxOptions {
  /** 0 = random; default 8788. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: random 32 hex chars. */
  apiKey?: string;
  /** Requests per second on /api/*, 0 = unlimited; default 5. */
  rateLimit?: number;
  /** Added to every /api/* response; default 0. */
  latencyMs?: number;
  /** Where to POST change notifications (crmsync's webhook URL incl. wpf_action and access_key); default null = none. */
  webhookUrl?: string | null;
  /** Also notify for changes made through the API (real CRMs echo); default true. */
  echoApiChanges?: boolean;
  /** Seed a few demo contacts; default true. */
  seed?: boolean;
  logger?: boolean;
  /** The time contacts' modification times are stamped with (a test's controllable clock); default Date.now. */
  now?: () => number;
}

export interface Sandbox {
  url: string;
  apiKey: string;
  state: SandboxState;
  webhooks: SandboxWebhooks;
  stats(): SandboxStats;
  /** Answer the next `calls` /api/* calls with 429 whatever the limit (default 1). */
  refuseNext(calls?: number): void;
  close(): Promise<void>;
}

/** Start the sandbox CRM: an HTTP server with the shape of a hosted CRM, plus test controls. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const state = new SandboxState(options.now);
  if (options.seed ?? true) seedDemoContacts(state);
  const webhooks = new SandboxWebhooks({
    url: options.webhookUrl ?? null,
    echoApiChanges: options.echoApiChanges ?? true,
    log: options.logger ? (message) => console.warn(`sandbox: ${message}`) : undefined,
  });
  state.onChange((contact, source) => webhooks.notify(contact, source));
  const deps: SandboxDeps = {
    state,
    webhooks,
    window: new RateWindow(options.rateLimit ?? 5),
    apiKey: options.apiKey ?? randomBytes(16).toString('hex'),
    latencyMs: options.latencyMs ?? 0,
    notice: { text: null },
  };
  const app = buildSandboxServer(deps, { logger: options.logger });
  await app.listen({ port: options.port ?? 8788, host: options.host ?? '127.0.0.1' });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    apiKey: deps.apiKey,
    state,
    webhooks,
    stats: () => collectStats(deps.window, webhooks),
    refuseNext: (calls = 1) => deps.window.refuseNext(calls),
    close: async () => {
      await webhooks.close();
      await closeApp(app);
    },
  };
}
