import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { InjectOptions } from 'fastify';
import type { Service } from '../service.js';

/** A request as any Node framework can describe it; `url` is relative to where crmsync is mounted. */
export interface WebhookRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw bytes (signatures are verified over them). */
  body?: Buffer | string;
  /** The caller's address, for the log. */
  ip?: string | null;
}

export interface WebhookAnswer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

// Set by whoever sends the answer, not by the engine.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);

/**
 * Answers a request with the service's own app (same parsers, routes, error handler and
 * limits), in process: the answer — status, code, body — is exactly the service's.
 */
export async function forward(service: Service, request: WebhookRequest): Promise<WebhookAnswer> {
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== 'content-length' && name !== 'transfer-encoding'));
  const response = await service.app.inject({
    method: request.method.toUpperCase() as InjectOptions['method'],
    url: request.url,
    headers: headers as Record<string, string>,
    // A body, even an empty one, only where the request declared one (as the service sees it).
    ...(hasBody(request) && { payload: request.body ?? '' }),
    ...(request.ip && { remoteAddress: request.ip }),
  });
  return {
    status: response.statusCode,
    headers: Object.fromEntries(Object.entries(response.headers).filter(([name]) => !HOP_BY_HOP.has(name))) as OutgoingHttpHeaders,
    body: response.rawPayload,
  };
}

const hasBody = (r: WebhookRequest) => 'content-length' in r.headers || 'transfer-encoding' in r.headers || (r.body?.length ?? 0) > 0;
