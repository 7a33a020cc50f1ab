import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { installErrorHandler } from './api/error-handler.js';
import type { AppContext } from './api/context.js';
import { registerRoutes } from './api/routes.js';
import { AppError } from './errors.js';
import { isWebhookUrl } from './ingress/webhook-path.js';

/**
 * The HTTP app, built without listening (tests use `inject`). Bodies are kept as raw bytes —
 * webhook signatures are verified over them — and JSON is parsed for the API from those bytes.
 */
export function buildApp(ctx: AppContext, logger?: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger | undefined,
    bodyLimit: ctx.bodyLimit,
    // Per-request lines would flood the log during a webhook burst; the activity log has them.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
  });
  installHttp(app, ctx);
  registerRoutes(app, ctx);
  return app;
}

/**
 * Body parsers and the error handler of crmsync's routes, in the service's app or in a host
 * app's plugin scope mounted at `prefix` (library mode): both answer alike.
 */
export function installHttp(app: FastifyInstance, ctx: AppContext, options: { prefix?: string; notFound?: boolean } = {}): void {
  const prefix = options.prefix ?? '';
  const bodyLimit = ctx.bodyLimit;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'], { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/, { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    if (isWebhookUrl(request.url, prefix)) return done(null, body);
    try {
      done(null, (body as Buffer).length ? JSON.parse((body as Buffer).toString('utf8')) : undefined);
    } catch {
      done(new AppError('malformed_body', 'the body is not valid JSON'), undefined);
    }
  });

  installErrorHandler(app, {
    prefix,
    notFound: options.notFound,
    onWebhookError: (request, code, message, error) =>
      ctx.ingress.rejectedEarly({ method: request.method, url: request.url, headers: request.headers, ip: request.ip ?? null }, code, message, error),
  });
}
