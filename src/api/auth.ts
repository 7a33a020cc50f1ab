import type { FastifyRequest } from 'fastify';
import { accessKeyMatches } from '../ingress/access-key.js';
import { AppError } from '../errors.js';

/** Bearer-token check for /api/*, constant-time. */
export function requireApiToken(request: FastifyRequest, tokens: readonly string[]): void {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!accessKeyMatches(match?.[1] ?? null, tokens)) {
    throw new AppError('unauthorized', 'a valid API token is required: Authorization: Bearer <CRMSYNC_API_TOKEN>');
  }
}
