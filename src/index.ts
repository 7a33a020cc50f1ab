/**
 * crmsync as a library (`import { createCrmsync } from 'crmsync'`): the engine of `crmsync
 * serve`, embedded in a Fastify or Express app. See "Library mode" in the README.
 */
export { createCrmsync, type Crmsync } from './library/crmsync.js';
export type { CrmsyncOptions } from './library/options.js';
export type { CrmsyncPluginOptions } from './library/fastify-plugin.js';
export type { CrmsyncMiddleware, CrmsyncMiddlewareOptions } from './library/express-middleware.js';
export type { WebhookAnswer, WebhookRequest } from './library/forward.js';
export type { CrmsyncUser, CrmsyncUserDetail, UsersApi } from './library/users.js';
export { keepRawBody } from './library/raw-body.js';
export { CALLBACK_EVENTS, type CallbackEvent, type CallbackHandler, type CallbackName, type CallbackPayload } from './events/in-process.js';
export type { EventData, EventType } from './events/types.js';
export { ConfigError } from './config.js';
export { AppError, type ErrorCode } from './errors.js';
export type { CrmName } from './crm/registry.js';
