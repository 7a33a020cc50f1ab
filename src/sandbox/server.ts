import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { bearerMatches } from './auth.js';
import type { SandboxDeps } from './deps.js';
import { SandboxError, codeForStatus, errorBody, statusOf } from './errors.js';
import { apiRoutes, controlRoutes, uiRoutes } from './routes.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The sandbox's fastify app, not listening yet (tests may `inject()` into it). */
export function buildSandboxServer(d: SandboxDeps, options: { logger?: boolean } = {}): FastifyInstance {
  const app = Fastify({ logger: options.logger ? { level: 'info' } : false, bodyLimit: 1_048_576 });
  app.addHook('onRequest', (req, reply) => guard(d, req, reply));
  app.setErrorHandler((error, req, reply) => {
    if (error instanceof SandboxError) return reply.code(statusOf[error.code]).send(errorBody(error.code, error.message));
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply.code(status).send(errorBody(codeForStatus(status), (error as Error).message));
    }
    req.log.error({ err: error }, 'sandbox: unexpected error');
    return reply.code(500).send(errorBody('internal', 'internal error'));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`)));
  apiRoutes(app, d);
  controlRoutes(app, d);
  app.register(async (scope) => {
    await scope.register(formbody);
    scope.addHook('preHandler', async (req) => refuseCrossSite(req));
    uiRoutes(scope, d);
  });
  return app;
}

/** `/api/*`: latency, then the API key, then the rate window. `/_sandbox/*`: the API key. */
async function guard(d: SandboxDeps, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const path = req.url.split('?')[0] ?? '';
  const isApi = path.startsWith('/api/');
  if (!isApi && !path.startsWith('/_sandbox/')) return;
  if (isApi && d.latencyMs > 0) await sleep(d.latencyMs);
  if (!bearerMatches(req.headers.authorization, d.apiKey)) {
    reply.header('www-authenticate', 'Bearer');
    throw new SandboxError('unauthorized', 'missing or wrong API key (Authorization: Bearer <key>)');
  }
  if (!isApi) return;
  const decision = d.window.hit();
  if (decision.limit > 0) {
    reply.header('ratelimit-limit', decision.limit).header('ratelimit-remaining', decision.remaining).header('ratelimit-reset', decision.retryAfterSeconds);
  }
  if (!decision.allowed) {
    reply.header('retry-after', decision.retryAfterSeconds);
    throw new SandboxError('rate_limited', `rate limit of ${decision.limit} requests per second exceeded`);
  }
}

/** The page binds to localhost without auth: refuse form posts made from other sites. */
function refuseCrossSite(req: FastifyRequest): void {
  if (req.method !== 'POST') return;
  const site = req.headers['sec-fetch-site'];
  if (site && site !== 'same-origin' && site !== 'none') throw new SandboxError('forbidden', 'cross-site form posts are refused');
  const origin = req.headers.origin;
  if (origin && origin !== 'null') {
    let host: string | null = null;
    try {
      host = new URL(origin).host;
    } catch {
      // unreadable origin: refused below
    }
    if (host !== req.headers.host) throw new SandboxError('forbidden', 'cross-site form posts are refused');
  } else if (origin === 'null') {
    throw new SandboxError('forbidden', 'cross-site form posts are refused');
  }
}
