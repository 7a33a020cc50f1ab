import { getSetting } from '../store/settings.js';
import { checkConfig } from './checks/config.js';
import { checkClockSkew, checkCrmCredentials, checkRateLimitHeadroom } from './checks/crm.js';
import { checkDatabase } from './checks/database.js';
import { checkPublicWebhook } from './checks/webhook.js';
import { fail, warn, type CheckResult } from './types.js';

export type { CheckResult } from './types.js';

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  /** Port of the sandbox CRM embedded in `crmsync serve` (when CRMSYNC_CRM=sandbox without a URL). */
  sandboxPort?: number;
  /** Timeout of each call to the public webhook URL. */
  timeoutMs?: number;
}

/** Runs every check in order; later checks that need an earlier one's result say so instead of running. */
export async function runDoctor(options: DoctorOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const { result, config } = checkConfig(options.env ?? process.env);
  results.push(result);
  if (!config) return results;

  const { result: dbResult, db } = await checkDatabase(config);
  results.push(dbResult);
  try {
    // The secrets the service uses: configured, or generated at its first start and stored.
    const stored = async (key: string) => (db && dbResult.status !== 'fail' ? await getSetting(db, key).catch(() => null) : null);
    const accessKey = config.accessKey ?? (await stored('access_key'));

    let crmUrl = config.crm.url;
    let crmKey = config.crm.apiKey;
    if (config.crm.name === 'sandbox' && !crmUrl) {
      crmUrl = `http://127.0.0.1:${options.sandboxPort ?? 8788}`;
      crmKey = await stored('sandbox_api_key');
    }
    if (crmUrl && crmKey) {
      const probe = await checkCrmCredentials(config, { url: crmUrl, apiKey: crmKey });
      if (config.crm.name === 'sandbox' && !config.crm.url && probe.result.status === 'fail') {
        probe.result.fix = `the embedded sandbox CRM runs inside \`crmsync serve\`: start the service (with --sandbox-port ${options.sandboxPort ?? 8788}), or run the doctor with the same --sandbox-port`;
      }
      results.push(probe.result, checkRateLimitHeadroom(config, probe.headers), checkClockSkew(config, probe.signs, probe.headers, probe.localMs));
    } else {
      results.push(fail('CRM credentials', 'no API key for the embedded sandbox CRM yet', 'start `crmsync serve` once: it creates the sandbox and stores its key'));
    }

    if (!accessKey) {
      results.push(
        fail('public webhook URL', 'no access key: CRMSYNC_ACCESS_KEY is not set and the service has not stored one', 'set CRMSYNC_ACCESS_KEY (at least 16 characters), or start `crmsync serve` once so it generates and stores one'),
        warn('query parameters survive', 'not checked', 'fix the webhook URL first'),
      );
    } else {
      results.push(...(await checkPublicWebhook(config.publicUrl, accessKey, { timeoutMs: options.timeoutMs })));
    }
  } finally {
    await db?.destroy().catch(() => undefined);
  }
  return results;
}
