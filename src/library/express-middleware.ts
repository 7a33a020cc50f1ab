import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from '../errors.js';
import type { Service } from '../service.js';
import { forward } from './forward.js';
import { rawBodyOf } from './raw-body.js';

export interface CrmsyncMiddlewareOptions {
  /** Also answer what the service serves besides the webhook: /api/*, /healthz, /metrics, /set-password. */
  api?: boolean;
}

/** An Express (or Connect) middleware, typed with Node's own request/response. */
export type CrmsyncMiddleware = (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: (error?: unknown) => void) => void;

const OTHER_ROUTES = /^\/(api\/.*|healthz|metrics|set-password)$/;

/**
 * Mount with `app.use('/crm', crmsync.expressMiddleware())`. It reads the raw body itself and
 * answers through the service's own app, so statuses, codes and bodies are the service's.
 * Other URLs go on to the host's routes (`next()`).
 */
export function expressMiddleware(running: () => Service | null, options: CrmsyncMiddlewareOptions = {}): CrmsyncMiddleware {
  return (req, res, next) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path !== '/' && !(options.api && OTHER_ROUTES.test(path))) return next();
    void (async () => {
      const service = running();
      if (!service) {
        res.writeHead(503, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(errorBody('not_started', 'crmsync is not running: call crmsync.start() when the app starts')));
        return;
      }
      const body = await rawBodyOf(req, service.context.bodyLimit);
      const answer = await forward(service, { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, ip: req.socket.remoteAddress ?? null });
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    })().catch(next);
  };
}
