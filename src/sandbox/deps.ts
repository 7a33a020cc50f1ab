import type { RateWindow } from './rate-window.js';
import type { SandboxState } from './state.js';
import type { SandboxWebhooks } from './webhooks.js';

/** What the sandbox's HTTP handlers work with. */
export interface SandboxDeps {
  state: SandboxState;
  webhooks: SandboxWebhooks;
  window: RateWindow;
  apiKey: string;
  latencyMs: number;
  /** The message the page shows once after a UI form was refused. */
  notice: { text: string | null };
}
