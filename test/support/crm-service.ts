import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import type { CrmName } from '../../src/crm/registry.js';
import { startService, type Service } from '../../src/service.js';
import { testDatabase } from './database.js';

/**
 * The whole service configured for a real CRM adapter, pointed at that CRM's fake server, on a
 * fresh database (SQLite file or PostgreSQL schema). `stop` stops it and drops the database.
 */
export async function startCrmService(options: {
  crm: CrmName;
  url: string;
  apiKey: string;
  webhookSecret?: string;
  accessKey: string;
  apiToken: string;
}): Promise<{ service: Service; stop(): Promise<void> }> {
  const database = await testDatabase();
  const config = loadConfig({
    PORT: '0',
    CRMSYNC_DATABASE_URL: database.url,
    CRMSYNC_ACCESS_KEY: options.accessKey,
    CRMSYNC_API_TOKEN: options.apiToken,
    CRMSYNC_CRM: options.crm,
    CRMSYNC_CRM_URL: options.url,
    CRMSYNC_CRM_API_KEY: options.apiKey,
    ...(options.webhookSecret && { CRMSYNC_CRM_WEBHOOK_SECRET: options.webhookSecret }),
    CRMSYNC_CRM_RATE_LIMIT: '50',
  });
  const service = await startService(config, { logger: pino({ level: 'silent' }) }).catch(async (error: unknown) => {
    await database.cleanup();
    throw error;
  });
  return {
    service,
    async stop() {
      await service.stop();
      await database.cleanup();
    },
  };
}
