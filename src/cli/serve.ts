import { configOrExit } from './config.js';
import { startService } from '../service.js';

/** `crmsync serve`: start everything and print how to use it. */
export async function serveCommand(options: { sandboxPort: number }): Promise<void> {
  const config = configOrExit();
  let service;
  try {
    service = await startService(config, { sandboxPort: options.sandboxPort });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { port?: number };
    if (e.code === 'EADDRINUSE') {
      process.stderr.write(`cannot listen: ${e.message}. Choose another PORT (crmsync) or --sandbox-port (the sandbox CRM).\n`);
      process.exit(2);
    }
    throw error;
  }
  const api = `${config.publicUrl}/api`;
  // The banner goes to the terminal only, never to the log: it is how the operator learns the secrets.
  const lines = [
    '',
    `crmsync is running on ${service.url} (CRM: ${service.crm.name}, database: ${config.databaseUrl})`,
    '',
    `  Webhook URL (paste into your CRM):  ${service.webhookUrl('update')}`,
    `  API token (Authorization: Bearer):  ${service.apiToken}${service.generated.apiToken ? '   (generated now and stored; set CRMSYNC_API_TOKEN to choose your own)' : ''}`,
    `  API:                                ${api}/openapi.json`,
    `  Admin UI (sign in with the token):  ${config.publicUrl}/admin/`,
    service.sandbox ? `  Sandbox CRM (edit contacts here):   ${service.sandbox.url}/` : '',
    '',
    'Try it: a webhook for contact 1, then read the user back:',
    `  curl -s '${service.webhookUrl('add')}&contact_id=1'`,
    `  curl -s -H 'Authorization: Bearer ${service.apiToken}' '${api}/users?contact_id=1'`,
    '',
  ].filter((l, i, all) => l !== '' || all[i - 1] !== '');
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping (finishing work in progress)…\n`);
    await service.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
