import { startSandbox } from '../sandbox/index.js';

/** `crmsync sandbox`: the sandbox CRM on its own, for demos and for pointing a crmsync at. */
export async function sandboxCommand(options: { port: number; host: string; apiKey?: string; rateLimit: number; latency: number; webhookUrl?: string; seed: boolean }): Promise<void> {
  const sandbox = await startSandbox({
    port: options.port,
    host: options.host,
    apiKey: options.apiKey,
    rateLimit: options.rateLimit,
    latencyMs: options.latency,
    webhookUrl: options.webhookUrl ?? null,
    seed: options.seed,
  });
  process.stdout.write(
    [
      `Sandbox CRM on ${sandbox.url}`,
      `  Edit contacts:  ${sandbox.url}/`,
      `  API key:        ${sandbox.apiKey}`,
      `  Point crmsync at it: CRMSYNC_CRM=sandbox CRMSYNC_CRM_URL=${sandbox.url} CRMSYNC_CRM_API_KEY=${sandbox.apiKey}`,
      `  Rate limit:     ${options.rateLimit || 'none'} requests/second`,
      options.webhookUrl ? `  Notifies:       ${options.webhookUrl.replace(/access_key=[^&]*/, 'access_key=…')}` : '  Notifies:       nobody (use --webhook-url)',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await sandbox.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
