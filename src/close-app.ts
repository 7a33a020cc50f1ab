import type { FastifyInstance } from 'fastify';

/**
 * Closes a Fastify app gracefully: requests in flight finish. Node closes only the keep-alive
 * connections that are idle when close() begins; one whose request is answered afterwards would
 * hold close() open until its keep-alive timeout (72 s), so idle ones are closed until it is done.
 */
export async function closeApp(app: FastifyInstance): Promise<void> {
  const idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
  try {
    await app.close();
  } finally {
    clearInterval(idleSweep);
  }
}
