import type { CallStats, RateWindow } from './rate-window.js';
import type { SandboxWebhooks, WebhookStats } from './webhooks.js';

/** What `GET /_sandbox/stats` and `sandbox.stats()` report. */
export type SandboxStats = CallStats & WebhookStats;

export function collectStats(window: RateWindow, webhooks: SandboxWebhooks): SandboxStats {
  return { ...window.stats(), ...webhooks.stats() };
}

export function resetStats(window: RateWindow, webhooks: SandboxWebhooks): void {
  window.reset();
  webhooks.resetStats();
}
