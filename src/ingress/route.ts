import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../api/context.js';

/** The WP Fusion-compatible webhook endpoint: `GET|POST /?wpf_action=…&access_key=…`. */
export function webhookRoute(ctx: AppContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const accept = String(request.headers.accept ?? '');
    // A person opening the URL in a browser gets the debug page; CRMs get JSON.
    const debug = request.method === 'GET' && /text\/html/.test(accept) && !/application\/json/.test(accept);
    const outcome = await ctx.ingress.handle(
      {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        ip: request.ip ?? null,
      },
      { debug },
    );
    if (outcome.kind === 'test') return outcome.probe ? { success: true, probe: outcome.probe } : { success: true };
    if (outcome.kind === 'debug') return reply.type('text/html; charset=utf-8').send(outcome.html);
    if (outcome.kind === 'ignored') return { status: 'ignored', reason: outcome.reason };
    if (outcome.kind === 'handshake') return reply.status(outcome.status).headers(outcome.headers).send(outcome.body ?? '');
    return { status: 'queued', action: outcome.action, contacts: outcome.contacts };
  };
}
