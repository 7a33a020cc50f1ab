import type { FastifyRequest } from 'fastify';
import { listLog } from '../store/log.js';
import type { AppContext } from './context.js';
import { logQuery } from './schemas.js';

export const logApi = (ctx: AppContext) => ({
  async list(request: FastifyRequest) {
    const q = logQuery.parse(request.query);
    const entries = await listLog(ctx.engine.db, { level: q.level, contactId: q.contact_id, userId: q.user_id, limit: q.limit, beforeId: q.before });
    return { entries: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
  },
});
