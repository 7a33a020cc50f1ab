import type { FastifyRequest } from 'fastify';
import type { AppContext } from './context.js';
import { credentialKind, rotation } from './schemas.js';

/** Access key and API token: what they are (never their values) and rotation with a grace period. */
export const credentialsApi = (ctx: AppContext) => ({
  async list() {
    return { accessKey: ctx.credentials.accessKey.info(), apiToken: ctx.credentials.apiToken.info() };
  },

  async rotate(request: FastifyRequest) {
    const kind = credentialKind.parse((request.params as { kind: string }).kind);
    const { graceHours } = rotation.parse(request.body ?? {});
    const credential = kind === 'access-key' ? ctx.credentials.accessKey : ctx.credentials.apiToken;
    const graceMs = graceHours === undefined ? ctx.credentials.graceMs : graceHours * 3_600_000;
    const { value, previousValidUntil } = await credential.rotate(graceMs);
    const label = kind === 'access-key' ? 'access key' : 'API token';
    await ctx.engine.log.write({
      level: 'notice',
      source: 'api',
      message: `${label} rotated; the previous one is accepted until ${previousValidUntil}`,
    });
    // The new value is shown once, here; the log and every later answer only say when it changed.
    return { kind, value, previousValidUntil };
  },
});
