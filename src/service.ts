import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './api/context.js';
import { ActivityLog } from './activity-log.js';
import { buildApp } from './app.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { checkCrmCredentials } from './doctor/checks/crm.js';
import { connectCrm } from './crm/connect.js';
import type { Crm } from './crm/types.js';
import { createEngine, type Engine } from './engine.js';
import { Deliverer, type InProcessReceiver } from './events/deliverer.js';
import { WebhookIngress } from './ingress/webhook.js';
import { Mailer } from './mail/mailer.js';
import { createMetrics } from './metrics.js';
import { Reconciler } from './reconcile/reconciler.js';
import { WorkerPool } from './reconcile/worker-pool.js';
import { createRedactor } from './redact.js';
import { Credential } from './credentials.js';
import { Sweeper } from './sweep/sweeper.js';
import { startSandbox, type Sandbox } from './sandbox/index.js';
import { dialectOf, migrate, openDatabase } from './store/database.js';
import { closeApp } from './close-app.js';
import { countJobs, reclaimExpiredJobs } from './store/jobs.js';
import { pruneHistory } from './store/retention.js';
import { getOrCreateSetting } from './store/settings.js';

/** How soon a rotation made by another instance (or the CLI) is seen here. */
const CREDENTIAL_REFRESH_MS = 5_000;

export interface ServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** Start the worker pool (tests that drive the reconciler by hand say false). */
  workers?: boolean;
  /** Listen on config.host:config.port (tests may use `app.inject` instead). */
  listen?: boolean;
  /** Port for the embedded sandbox CRM (0 = any free port). */
  sandboxPort?: number;
  /** Sandbox options for tests: rate limit, latency. */
  sandboxRateLimit?: number;
  sandboxLatencyMs?: number;
  /** Receives the events of the in-process endpoint (library mode's callbacks). */
  inProcess?: InProcessReceiver;
}

export interface Service {
  app: FastifyInstance;
  engine: Engine;
  reconciler: Reconciler;
  pool: WorkerPool;
  /** Sends events to the host application's endpoints. */
  deliverer: Deliverer;
  sandbox: Sandbox | null;
  /** Re-reads recently changed contacts (missed webhooks). */
  sweeper: Sweeper;
  /** Starts the workers, the deliverer and the sweep (when `workers: false` left them stopped). */
  startWorkers(): Promise<void>;
  crm: Crm;
  accessKey: string;
  apiToken: string;
  /** The access key and API token as objects that rotate and refresh. */
  credentials: { accessKey: Credential; apiToken: Credential };
  /** Which secrets were generated at this start (so the CLI can say so). */
  generated: { accessKey: boolean; apiToken: boolean };
  url: string;
  webhookUrl: (action?: string) => string;
  stop(): Promise<void>;
  /** What the HTTP handlers use: library mode mounts the same routes in the host's app. */
  context: AppContext;
  logger: Logger;
}

/**
 * Builds every part (store, CRM adapter, rate limiter, reconciler, worker pool, deliverer,
 * pusher, HTTP routes) without listening or starting workers: library mode starts the workers
 * with the host application and mounts the routes in it.
 */
export const buildService = (config: Readonly<Config>, options: Omit<ServiceOptions, 'listen' | 'workers'> = {}): Promise<Service> =>
  startService(config, { ...options, listen: false, workers: false });

/** Wires every part together from a validated config, starts it, and returns handles to it. */
export async function startService(config: Readonly<Config>, options: ServiceOptions = {}): Promise<Service> {
  const clock = options.clock ?? systemClock;
  const db = openDatabase(config.databaseUrl);
  await migrate(db);

  const access = await Credential.open(db, 'access_key', config.accessKey, clock);
  const token = await Credential.open(db, 'api_token', config.apiToken, clock);

  let sandbox: Sandbox | null = null;
  let crmUrl = config.crm.url;
  let crmKey = config.crm.apiKey;
  let publicUrl = config.publicUrl;
  const webhookUrl = (action = 'update') => `${publicUrl}/?wpf_action=${action}&access_key=${encodeURIComponent(access.current)}`;
  if (config.crm.name === 'sandbox' && !crmUrl) {
    const sandboxKey = await getOrCreateSetting(db, 'sandbox_api_key', () => randomBytes(16).toString('hex'));
    sandbox = await startSandbox({
      port: options.sandboxPort ?? 8788,
      apiKey: sandboxKey.value,
      rateLimit: options.sandboxRateLimit ?? 5,
      latencyMs: options.sandboxLatencyMs ?? 0,
      webhookUrl: webhookUrl('update'),
      logger: false,
      now: () => clock.now(),
    });
    crmUrl = sandbox.url;
    crmKey = sandbox.apiKey;
  }
  const smtpPassword = config.smtpUrl ? new URL(config.smtpUrl).password : null;
  const secrets = () => [...access.secrets(), ...token.secrets(), config.adminPassword, crmKey, config.crm.webhookSecret, smtpPassword];
  const redact = createRedactor(secrets);
  const logger =
    options.logger ??
    pino({ level: config.logLevel, redact: { paths: ['req.headers.authorization', '*.access_key', '*.apiKey', '*.token'], censor: '[redacted]' } });

  const metrics = createMetrics(async () => ({ ...(await countJobs(db)) }));
  const crmName = config.crm.name;
  const crm = connectCrm(config, { db, url: crmUrl!, apiKey: crmKey!, clock, metrics });

  const log = new ActivityLog(db, clock, logger, redact);
  const mailer = new Mailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, db, clock, logger });
  const engine = createEngine(config, { db, crm, clock, log, metrics, mailer, workerId: `${hostname()}:${process.pid}` });

  // SQLite: one instance owns the file, so whatever is running was interrupted. PostgreSQL:
  // other instances may be working; only expired leases are taken over (the pool keeps doing so).
  const cutoff = dialectOf(db) === 'sqlite' ? clock.now() : clock.now() - config.leaseMs;
  const recovered = await reclaimExpiredJobs(db, cutoff, clock.now());
  if (recovered.length) await log.write({ level: 'notice', source: 'service', message: `${recovered.length} interrupted reconcile(s) put back in the queue` });

  const reconciler = new Reconciler(engine);
  const pool = new WorkerPool(reconciler, { db, workers: config.workers, logger, now: () => clock.now(), workerId: engine.workerId, leaseMs: config.leaseMs, log, lingerMs: crm.capabilities.maxBatchLoad > 1 ? 200 : 0 });
  const deliverer = new Deliverer({ db, clock, log, logger, workerId: engine.workerId, maxAttempts: config.events.maxAttempts, timeoutMs: config.events.timeoutMs, inProcess: options.inProcess });
  const sweeper = new Sweeper(engine, config.sweep, { wake: () => pool.wake(), logger });
  const ingress = new WebhookIngress({ engine, reconciler, accessKeys: () => access.valid(), redact, onStored: () => pool.wake() });
  const context: AppContext = {
    engine,
    ingress,
    reconciler,
    apiTokens: () => token.valid(),
    credentials: { accessKey: access, apiToken: token, graceMs: config.rotationGraceMs },
    wake: () => {
      pool.wake();
      deliverer.wake();
    },
    bodyLimit: config.bodyLimit,
    health: async () => ({ status: 'ok', crm: crm.name, queue: await countJobs(db) }),
    admin: {
      password: config.adminPassword,
      secureCookies: config.publicUrl.startsWith('https:'),
      crmName,
      webhookUrl,
      checkCrm: async () => (await checkCrmCredentials(config, { url: crmUrl!, apiKey: crmKey! })).result,
    },
  };
  const app = buildApp(context, logger);
  await app.ready();
  let url = config.publicUrl;
  if (options.listen !== false) {
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    if (address && typeof address === 'object') url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${address.port}`;
    // On a random port (tests), links and the sandbox must use the address we really got.
    if (config.port === 0 && config.publicUrl.endsWith(':0')) {
      publicUrl = url;
      engine.publicUrl = url;
      sandbox?.webhooks.setUrl(webhookUrl('update'));
    }
  }
  // The queue's workers, the event deliverer and the sweep: started here, or by library mode with its host app.
  const startWorkers = async () => {
    pool.start();
    deliverer.start();
    await sweeper.start();
  };
  if (options.workers !== false) await startWorkers();

  // Housekeeping: history past the retention period goes, hourly (and once at start).
  const prune = async () => {
    const removed = await pruneHistory(db, clock.now() - config.retentionDays * 86_400_000);
    if (Object.values(removed).some((n) => n > 0)) logger.info({ removed }, `pruned history older than ${config.retentionDays} days`);
  };
  const pruneTimer = setInterval(() => void prune().catch((err) => logger.error({ err }, 'pruning failed')), 3_600_000);
  pruneTimer.unref();
  await prune();

  // The embedded sandbox must call with the current key; other instances' rotations are read
  // from the database every few seconds.
  access.onChange(() => sandbox?.webhooks.setUrl(webhookUrl('update')));
  const refreshCredentials = setInterval(
    () => void Promise.all([access.refresh(), token.refresh()]).catch((err) => logger.error({ err }, 'reading credentials failed')),
    CREDENTIAL_REFRESH_MS,
  );
  refreshCredentials.unref();

  return {
    app,
    engine,
    reconciler,
    pool,
    deliverer,
    sandbox,
    sweeper,
    startWorkers,
    crm,
    get accessKey() {
      return access.current;
    },
    get apiToken() {
      return token.current;
    },
    credentials: { accessKey: access, apiToken: token },
    generated: { accessKey: access.created, apiToken: token.created },
    url,
    webhookUrl,
    context,
    logger,
    async stop() {
      clearInterval(pruneTimer);
      clearInterval(refreshCredentials);
      await sweeper.stop();
      await closeApp(app);
      await pool.stop();
      await deliverer.stop();
      await sandbox?.close();
      mailer.close();
      await db.destroy();
    },
  };
}
