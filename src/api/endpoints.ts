import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { isInProcess } from '../events/in-process.js';
import { newSecret } from '../events/standard-webhooks.js';
import { listDeliveries, type Delivery } from '../store/event-deliveries.js';
import { deleteEndpoint, findEndpoint, insertEndpoint, listEndpoints, rotateSecret, type Endpoint } from '../store/event-endpoints.js';
import type { AppContext } from './context.js';
import { deliveryQuery, newEndpoint, secretRotation, userId } from './schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const origin = (url: string) => (isInProcess(url) ? url : new URL(url).origin);

/** The API's view of an endpoint: its secrets' dates, never their values. */
function presentEndpoint(e: Endpoint) {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    enabled: e.enabled,
    disabledReason: e.disabledReason,
    secrets: e.secrets.map((s) => ({ createdAt: iso(s.createdAt)!, expiresAt: iso(s.expiresAt) })),
    createdAt: iso(e.createdAt)!,
  };
}

function presentDelivery(d: Delivery) {
  return {
    id: d.id,
    eventId: d.eventId,
    type: d.type,
    state: d.state,
    attempts: d.attempts,
    nextAttemptAt: d.state === 'pending' || d.state === 'failed' ? iso(d.nextAttemptAt) : null,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: iso(d.createdAt),
    deliveredAt: iso(d.deliveredAt),
    payload: JSON.parse(d.payload) as unknown,
  };
}

const idOf = (request: FastifyRequest) => userId.parse((request.params as { id: string }).id);

/** Endpoints of the host application that receive events (Standard Webhooks), and their deliveries. */
export const endpointsApi = (ctx: AppContext) => ({
  async list() {
    return { endpoints: (await listEndpoints(ctx.engine.db)).map(presentEndpoint) };
  },

  async create(request: FastifyRequest, reply: FastifyReply) {
    const body = newEndpoint.parse(request.body ?? {});
    const { db, clock, log } = ctx.engine;
    const secret = newSecret();
    const created = await insertEndpoint(db, { url: body.url, events: body.events ?? ['*'], secret }, clock.now());
    await log.write({ level: 'notice', source: 'events', message: `event endpoint #${created.id} added (${origin(created.url)}) for ${created.events.join(', ')}` });
    return reply.status(201).send({ ...presentEndpoint(created), secret });
  },

  async remove(request: FastifyRequest, reply: FastifyReply) {
    const id = idOf(request);
    const { db, log } = ctx.engine;
    const found = await findEndpoint(db, id);
    if (!found || !(await deleteEndpoint(db, id))) throw new AppError('not_found', `event endpoint #${id} not found`);
    await log.write({ level: 'notice', source: 'events', message: `event endpoint #${id} (${origin(found.url)}) deleted with its deliveries` });
    return reply.status(204).send();
  },

  async rotate(request: FastifyRequest) {
    const id = idOf(request);
    const body = secretRotation.parse(request.body ?? {});
    const { db, clock, log } = ctx.engine;
    const secret = newSecret();
    const rotated = await rotateSecret(db, id, secret, body.graceSeconds * 1000, clock.now());
    if (!rotated) throw new AppError('not_found', `event endpoint #${id} not found`);
    await log.write({ level: 'notice', source: 'events', message: `event endpoint #${id}: signing secret rotated; ${rotated.secrets.length - 1} older secret(s) keep signing until ${iso(clock.now() + body.graceSeconds * 1000)}` });
    return { ...presentEndpoint(rotated), secret };
  },

  async deliveries(request: FastifyRequest) {
    const id = idOf(request);
    const q = deliveryQuery.parse(request.query);
    if (!(await findEndpoint(ctx.engine.db, id))) throw new AppError('not_found', `event endpoint #${id} not found`);
    const list = await listDeliveries(ctx.engine.db, id, { state: q.state, limit: q.limit, beforeId: q.before });
    return { deliveries: list.map(presentDelivery) };
  },
});
