import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { installErrorHandler } from './api/error-handler.js';
import type { AppContext } from './api/context.js';
import { registerRoutes } from './api/routes.js';
import { AppError } from './errors.js';

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

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/, { parseAs: 'buffer' }, (request, body, done) => {
    if (request.url === '/' || request.url.startsWith('/?')) return done(null, body);
    try {
      done(null, (body as Buffer).length ? JSON.parse((body as Buffer).toString('utf8')) : undefined);
    } catch {
      done(new AppError('malformed_body', 'the body is not valid JSON'), undefined);
    }
  });

  installErrorHandler(app, {
    onWebhookError: (request, code, message, error) =>
      ctx.ingress.rejectedEarly({ method: request.method, url: request.url, headers: request.headers, ip: request.ip ?? null }, code, message, error),
  });
  registerRoutes(app, ctx);
  return app;
}
