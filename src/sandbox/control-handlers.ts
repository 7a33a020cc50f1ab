import type { FastifyRequest } from 'fastify';
import type { SandboxDeps } from './deps.js';
import { parse, refuseBody, staleBody, webhookControlsBody } from './schemas.js';
import { collectStats, resetStats } from './stats.js';

/** Handlers of the test controls (`/_sandbox/*`): stats, webhook controls, stale reads. */
type Handler = (req: FastifyRequest) => Promise<unknown>;

export const getStats = (d: SandboxDeps): Handler => async () => collectStats(d.window, d.webhooks);

export const postStatsReset =
  (d: SandboxDeps): Handler =>
  async () => {
    resetStats(d.window, d.webhooks);
    return collectStats(d.window, d.webhooks);
  };

export const postWebhookControls =
  (d: SandboxDeps): Handler =>
  async (req) => {
    d.webhooks.configure(parse(webhookControlsBody, req.body, 'webhook controls'));
    return { held: d.webhooks.held() };
  };

export const postWebhookRelease =
  (d: SandboxDeps): Handler =>
  async () => ({ released: await d.webhooks.release() });

export const postStale =
  (d: SandboxDeps): Handler =>
  async (req) => {
    const { contactId, ...stale } = parse(staleBody, req.body, 'stale reads');
    d.state.serveStale(contactId, stale);
    return { ok: true };
  };

export const postRefuse =
  (d: SandboxDeps): Handler =>
  async (req) => {
    d.window.refuseNext(parse(refuseBody, req.body, 'rate-limit control').calls);
    return { ok: true };
  };
