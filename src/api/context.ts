import type { AdminSetup } from '../admin/setup-context.js';
import type { Credential } from '../credentials.js';
import type { Engine } from '../engine.js';
import type { WebhookIngress } from '../ingress/webhook.js';
import type { Reconciler } from '../reconcile/reconciler.js';

/** What the HTTP handlers need. Built by the service (or a test) and passed to `buildApp`. */
export interface AppContext {
  engine: Engine;
  ingress: WebhookIngress;
  reconciler: Reconciler;
  /** Valid API tokens (a list, so a rotated token can keep working for a while). */
  apiTokens: () => readonly string[];
  /** The rotatable secrets, and how long a rotated one keeps working by default. */
  credentials: { accessKey: Credential; apiToken: Credential; graceMs: number };
  /** Signals the workers that new work is queued. */
  wake: () => void;
  bodyLimit: number;
  /** Readiness facts for /healthz. */
  health: () => Promise<Record<string, unknown>>;
  /** The admin UI's settings (absent: /admin/ is not served). */
  admin?: AdminSetup;
}
