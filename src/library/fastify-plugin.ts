import type { FastifyPluginAsync } from 'fastify';
import { registerRoutes } from '../api/routes.js';
import { installHttp } from '../app.js';
import { webhookRoute } from '../ingress/route.js';
import type { Service } from '../service.js';

export interface CrmsyncPluginOptions {
  /** Also mount what the service serves besides the webhook: /api/*, /healthz, /metrics, /set-password. */
  api?: boolean;
  /** Stop crmsync (workers, store) when the host app closes. */
  own?: boolean;
}

/**
 * crmsync's routes inside a host Fastify app, in their own scope: raw bodies are kept there
 * (webhook signatures are verified over them) without touching the host's parsers, and errors
 * answer as the service's do. Registering starts crmsync if it is not running.
 */
export function fastifyPlugin(lifecycle: { start(): Promise<Service>; stop(): Promise<void> }): FastifyPluginAsync<CrmsyncPluginOptions> {
  return async (scope, options) => {
    const { context } = await lifecycle.start();
    // At the root, unknown URLs are the host app's to answer.
    installHttp(scope, context, { prefix: scope.prefix, notFound: scope.prefix !== '' });
    if (options.api) registerRoutes(scope, context);
    else scope.route({ method: ['GET', 'POST'], url: '/', handler: webhookRoute(context) });
    if (options.own) scope.addHook('onClose', async () => lifecycle.stop());
  };
}
