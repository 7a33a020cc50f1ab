import type { FastifyInstance } from 'fastify';
import { accountPages } from '../account/set-password.js';
import { accessApi } from './access.js';
import { adminPages } from '../admin/index.js';
import { listMail } from '../store/mail-outbox.js';
import { AppError } from '../errors.js';
import type { AppContext } from './context.js';
import { requireApiToken } from './auth.js';
import { credentialsApi } from './credentials.js';
import { endpointsApi } from './endpoints.js';
import { logApi } from './log.js';
import { openApiDocument } from './openapi.js';
import { queueApi } from './queue.js';
import { usersApi } from './users.js';
import { webhookRoute } from '../ingress/route.js';

/** Every endpoint, one line each. */
export function registerRoutes(app: FastifyInstance, ctx: AppContext): void {
  const users = usersApi(ctx);
  const log = logApi(ctx);
  const queue = queueApi(ctx);
  const account = accountPages(ctx);
  const endpoints = endpointsApi(ctx);
  const credentials = credentialsApi(ctx);
  const access = accessApi(ctx);

  app.route({ method: ['GET', 'POST'], url: '/', handler: webhookRoute(ctx) });
  app.get('/healthz', async () => ctx.health());
  app.get('/metrics', async (_req, reply) => reply.type(ctx.engine.metrics.registry.contentType).send(await ctx.engine.metrics.registry.metrics()));
  app.get('/set-password', account.show);
  app.post('/set-password', account.submit);
  app.register(adminPages(ctx), { prefix: '/admin' });

  app.register(async (api) => {
    api.addHook('onRequest', async (request) => requireApiToken(request, ctx.apiTokens()));
    // Form and text bodies are parsed as raw bytes for the webhook; the API takes JSON only.
    api.addHook('preValidation', async (request) => {
      if (Buffer.isBuffer(request.body)) throw new AppError('unsupported_media_type', 'API request bodies must be application/json');
    });
    api.get('/api/openapi.json', async () => openApiDocument(ctx.engine.publicUrl));
    api.get('/api/users', users.list);
    api.post('/api/users', users.create);
    api.get('/api/users/:id', users.get);
    api.patch('/api/users/:id', users.patch);
    api.post('/api/users/:id/tags', users.tags);
    api.get('/api/users/:id/access', access.list);
    api.get('/api/users/:id/access/:resource', access.check);
    api.post('/api/users/:id/grants', access.grant);
    api.delete('/api/users/:id/grants', access.revoke);
    api.post('/api/auth/verify', account.verify);
    api.get('/api/log', log.list);
    api.get('/api/queue', queue.summary);
    api.get('/api/queue/dead', queue.dead);
    api.post('/api/queue/dead/replay', queue.replayAll);
    api.post('/api/queue/dead/:id/replay', queue.replay);
    api.get('/api/mail', async () => ({ messages: await listMail(ctx.engine.db, 100) }));
    api.get('/api/endpoints', endpoints.list);
    api.post('/api/endpoints', endpoints.create);
    api.delete('/api/endpoints/:id', endpoints.remove);
    api.post('/api/endpoints/:id/rotate', endpoints.rotate);
    api.get('/api/endpoints/:id/deliveries', endpoints.deliveries);
    api.get('/api/credentials', credentials.list);
    api.post('/api/credentials/:kind/rotate', credentials.rotate);
  });
}
