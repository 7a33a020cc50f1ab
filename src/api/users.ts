import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { changeTags, changeUser, registerUser } from '../push/local-change.js';
import { listOperations } from '../store/operations.js';
import { findUser, listUsers } from '../store/users.js';
import type { AppContext } from './context.js';
import { presentUser } from './present.js';
import { newUser, tagChange, userId, userPatch, userQuery } from './schemas.js';

export function checkRole(ctx: AppContext, role: string | undefined): void {
  if (role !== undefined && !ctx.engine.roles.roles.includes(role)) {
    throw new AppError('invalid_request', `unknown role "${role}"; allowed: ${ctx.engine.roles.roles.join(', ')}`);
  }
}

export const usersApi = (ctx: AppContext) => ({
  async list(request: FastifyRequest) {
    const q = userQuery.parse(request.query);
    const users = await listUsers(ctx.engine.db, { email: q.email, contactId: q.contact_id, tag: q.tag, limit: q.limit, afterId: q.after });
    return { users: users.map(presentUser) };
  },

  async get(request: FastifyRequest) {
    const id = userId.parse((request.params as { id: string }).id);
    const user = await findUser(ctx.engine.db, { id });
    if (!user) throw new AppError('not_found', `user #${id} not found`);
    const pending = await listOperations(ctx.engine.db, id);
    return { ...presentUser(user), pendingOperations: pending.map((op) => ({ kind: op.kind, name: op.name, value: op.value, state: op.state })) };
  },

  async create(request: FastifyRequest, reply: FastifyReply) {
    const body = newUser.parse(request.body ?? {});
    checkRole(ctx, body.role);
    const user = await registerUser(ctx.engine, { email: body.email, role: body.role ?? null, fields: body.fields, tags: body.tags });
    ctx.wake();
    return reply.status(201).send(presentUser(user));
  },

  async patch(request: FastifyRequest) {
    const id = userId.parse((request.params as { id: string }).id);
    const body = userPatch.parse(request.body ?? {});
    checkRole(ctx, body.role);
    const user = await changeUser(ctx.engine, id, body);
    ctx.wake();
    return presentUser(user);
  },

  async tags(request: FastifyRequest) {
    const id = userId.parse((request.params as { id: string }).id);
    const body = tagChange.parse(request.body ?? {});
    const user = await changeTags(ctx.engine, id, body);
    ctx.wake();
    return presentUser(user);
  },
});
