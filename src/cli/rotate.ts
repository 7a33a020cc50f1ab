import { configOrExit } from './config.js';
import { systemClock } from '../clock.js';
import { Credential } from '../credentials.js';
import { AppError } from '../errors.js';
import { migrate, openDatabase } from '../store/database.js';

/**
 * `crmsync rotate access-key|api-token`: a new value, printed once; the old one keeps working for
 * the grace period. Works while the service runs (it sees the change within seconds) — and is the
 * way back in when the API token is lost.
 */
export async function rotateCommand(kind: 'access-key' | 'api-token', options: { graceHours?: number }): Promise<void> {
  const config = configOrExit();
  const db = openDatabase(config.databaseUrl);
  try {
    await migrate(db);
    const credential =
      kind === 'access-key'
        ? await Credential.open(db, 'access_key', config.accessKey, systemClock)
        : await Credential.open(db, 'api_token', config.apiToken, systemClock);
    const graceMs = options.graceHours === undefined ? config.rotationGraceMs : options.graceHours * 3_600_000;
    const { value, previousValidUntil } = await credential.rotate(graceMs);
    const label = kind === 'access-key' ? 'access key' : 'API token';
    const lines = [`new ${label}: ${value}`, `the previous ${label} is accepted until ${previousValidUntil}`];
    if (kind === 'access-key') lines.push(`new webhook URL: ${config.publicUrl}/?wpf_action=update&access_key=${encodeURIComponent(value)}`, 'update it in your CRM before then.');
    process.stdout.write(`${lines.join('\n')}\n`);
  } catch (error) {
    if (error instanceof AppError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  } finally {
    await db.destroy();
  }
}
