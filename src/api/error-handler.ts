import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { AppError, ERROR_STATUS, errorBody, type ErrorCode } from '../errors.js';

/** The one place that turns errors into HTTP answers. */
export function installErrorHandler(
  app: FastifyInstance,
  options: { onWebhookError?: (request: FastifyRequest, code: ErrorCode, message: string, error: Error) => Promise<void> } = {},
): void {
  app.setErrorHandler(async (error: FastifyError | Error, request, reply) => {
    const { code, message } = classify(error);
    if (code === 'internal_error') request.log.error({ err: error }, 'unhandled error');
    // Webhooks refused before the handler ran (too large, wrong content type) are logged too.
    if (options.onWebhookError && (request.url === '/' || request.url.startsWith('/?'))) {
      await options.onWebhookError(request, code, message, error).catch((err: unknown) => request.log.error({ err }, 'could not log a rejected webhook'));
    }
    return reply.status(ERROR_STATUS[code]).send(errorBody(code, message));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
}

export function classify(error: Error & { code?: string; statusCode?: number }): { code: ErrorCode; message: string } {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  if (error instanceof ZodError) {
    const first = error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    return { code: 'invalid_request', message: first.join('; ') };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', message: 'the request body is too large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'unsupported_media_type', message: 'unsupported content type' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: 'malformed_body', message: error.message };
  }
  if (error.statusCode === 400 || error instanceof SyntaxError) return { code: 'malformed_body', message: 'the request body could not be parsed' };
  return { code: 'internal_error', message: 'internal error; see the service log' };
}
