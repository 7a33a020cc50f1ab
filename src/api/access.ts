import type { FastifyReply, FastifyRequest } from 'fastify';
import { accessOf, reasonOf, type Grant } from '../domain/access.js';
import { AppError } from '../errors.js';
import { grantResource, revokeResource } from '../push/local-grant.js';
import { findAccess, listActiveGrants } from '../store/grants.js';
import { findUser } from '../store/users.js';
import { grantKey, newGrant, resourceName } from './access-schemas.js';
import type { AppContext } from './context.js';
import { userId } from './schemas.js';

function presentGrant(g: Grant) {
  return { id: g.id, resource: g.resource, source: g.source, reason: reasonOf(g), note: g.note, grantedAt: new Date(g.createdAt).toISOString() };
}

const idOf = (request: FastifyRequest) => userId.parse((request.params as { id: string }).id);

/** What a user may access and why; grants made by the host application. */
export const accessApi = (ctx: AppContext) => ({
  async list(request: FastifyRequest) {
    const id = idOf(request);
    const { db } = ctx.engine;
    if (!(await findUser(db, { id }))) throw new AppError('not_found', `user #${id} not found`);
    const resources = accessOf(await listActiveGrants(db, id)).map((a) => ({ resource: a.resource, grants: a.grants.map(presentGrant) }));
    return { userId: id, resources };
  },

  async check(request: FastifyRequest) {
    const id = idOf(request);
    const resource = resourceName.parse((request.params as { resource: string }).resource);
    const { userExists, grants } = await findAccess(ctx.engine.db, id, resource);
    if (!userExists) throw new AppError('not_found', `user #${id} not found`);
    return { userId: id, resource, granted: grants.length > 0, reasons: grants.map(reasonOf) };
  },

  async grant(request: FastifyRequest, reply: FastifyReply) {
    const id = idOf(request);
    const body = newGrant.parse(request.body ?? {});
    const result = await grantResource(ctx.engine, id, { resource: body.resource, source: body.source, note: body.note ?? null });
    if (result.appliedTags.length) ctx.wake();
    return reply.status(result.created ? 201 : 200).send({ ...presentGrant(result.grant), created: result.created, appliedTags: result.appliedTags });
  },

  async revoke(request: FastifyRequest) {
    const id = idOf(request);
    // By resource + source, in the JSON body or the query string.
    const key = grantKey.parse(request.body ?? request.query ?? {});
    const { revoked, stillGranted } = await revokeResource(ctx.engine, id, key);
    return { revoked: revoked.map(presentGrant), granted: stillGranted };
  },
});
