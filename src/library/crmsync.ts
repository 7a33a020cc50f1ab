import type { FastifyPluginAsync } from 'fastify';
import { AppError } from '../errors.js';
import { Callbacks, ensureInProcessEndpoint, type CallbackHandler, type CallbackName } from '../events/in-process.js';
import { buildService, type Service } from '../service.js';
import { expressMiddleware, type CrmsyncMiddleware, type CrmsyncMiddlewareOptions } from './express-middleware.js';
import { fastifyPlugin, type CrmsyncPluginOptions } from './fastify-plugin.js';
import { forward, type WebhookAnswer, type WebhookRequest } from './forward.js';
import { configFromOptions, type CrmsyncOptions } from './options.js';
import { usersApi, type UsersApi } from './users.js';

export interface Crmsync {
  /** Opens the store (migrating it), starts the reconcile workers and the event deliverer. Idempotent. */
  start(): Promise<void>;
  /** Finishes work in progress, stops the workers and closes the store. */
  stop(): Promise<void>;
  readonly running: boolean;
  /** `app.register(crmsync.fastifyPlugin, { prefix: '/crm', api?, own? })`. */
  fastifyPlugin: FastifyPluginAsync<CrmsyncPluginOptions>;
  /** `app.use('/crm', crmsync.expressMiddleware({ api? }))`, before express.json()/urlencoded() (see the README). */
  expressMiddleware(options?: CrmsyncMiddlewareOptions): CrmsyncMiddleware;
  /** Any other framework: give the request (URL relative to the mount point, raw body), send back the answer. */
  handleWebhook(request: WebhookRequest): Promise<WebhookAnswer>;
  users: UsersApi;
  /** Calls `handler` after each committed change of that kind; returns a function that unsubscribes. */
  on<N extends CallbackName>(name: N, handler: CallbackHandler<N>): () => void;
  /** The URL to paste into the CRM (needs `publicUrl` = host origin + mount prefix). Once started. */
  webhookUrl(action?: 'update' | 'update_tags' | 'add'): string;
  /** The webhook's access key and the /api bearer token (configured, or generated and stored). Once started. */
  readonly accessKey: string;
  readonly apiToken: string;
  /** The embedded sandbox CRM, when one was started (crm.name 'sandbox' without crm.url). */
  readonly sandbox: Service['sandbox'];
}

/**
 * crmsync embedded in a Node app: the same engine as `crmsync serve` (one function builds it:
 * `buildService`), with its HTTP routes mounted in the host's app instead of listening.
 * Options are validated here, all problems at once (a `ConfigError`); nothing starts before
 * `start()` (or registering the Fastify plugin).
 */
export function createCrmsync(options: CrmsyncOptions = {}): Crmsync {
  const config = configFromOptions(options);
  const callbacks = new Callbacks();
  let service: Service | null = null;
  let starting: Promise<Service> | null = null;
  let stopping: Promise<void> | null = null;

  const running = () => {
    if (!service) throw new AppError('not_started', 'crmsync is not running: call crmsync.start() when the app starts');
    return service;
  };

  async function start(): Promise<Service> {
    await stopping;
    if (service) return service;
    starting ??= (async () => {
      let built: Service | null = null;
      try {
        built = await buildService(config, {
          logger: options.logger,
          sandboxPort: options.sandbox?.port,
          sandboxRateLimit: options.sandbox?.rateLimit,
          sandboxLatencyMs: options.sandbox?.latencyMs,
          inProcess: (delivery) => callbacks.receive(delivery, built!.engine.log, config.events.timeoutMs),
        });
        await ensureInProcessEndpoint(built.engine.db, built.engine.clock.now());
        await built.startWorkers();
        service = built;
        return built;
      } catch (error) {
        await built?.stop().catch(() => undefined);
        throw error;
      } finally {
        starting = null;
      }
    })();
    return starting;
  }

  async function stop(): Promise<void> {
    await starting?.catch(() => undefined);
    const current = service;
    service = null;
    if (!current) return stopping ?? undefined;
    stopping = current.stop().finally(() => {
      stopping = null;
    });
    return stopping;
  }

  return {
    start: async () => void (await start()),
    stop,
    get running() {
      return service !== null;
    },
    fastifyPlugin: fastifyPlugin({ start, stop }),
    expressMiddleware: (opts) => expressMiddleware(() => service, opts),
    handleWebhook: (request) => forward(running(), request),
    users: usersApi(() => running().context),
    on: (name, handler) => callbacks.on(name, handler),
    webhookUrl: (action = 'update') => running().webhookUrl(action),
    get accessKey() {
      return running().accessKey;
    },
    get apiToken() {
      return running().apiToken;
    },
    get sandbox() {
      return running().sandbox;
    },
  };
}
