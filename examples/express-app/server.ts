import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createCrmsync, type CrmsyncOptions } from 'crmsync';

/**
 * A small Express app with crmsync mounted at /crm. The middleware comes before
 * express.json(): it reads the raw body itself (signatures are verified over the bytes).
 */
export async function main(settings: { port?: number; crmsync?: CrmsyncOptions } = {}) {
  const port = settings.port ?? 3001;
  const crmsync = createCrmsync({
    databaseUrl: 'sqlite:./data/express-app.sqlite',
    publicUrl: `http://127.0.0.1:${port}/crm`,
    crm: { name: 'sandbox' }, // no URL: crmsync starts its sandbox CRM (port 8788)
    ...settings.crmsync,
  });
  const welcomed: { userId: number; email: string }[] = [];
  crmsync.on('user.created', ({ userId, email }) => void welcomed.push({ userId, email }));
  await crmsync.start();

  const app = express();
  app.use('/crm', crmsync.expressMiddleware());
  app.use(express.json());
  app.post('/users/:id/purchase', async (req, res) => void res.json(await crmsync.users.applyTags(Number(req.params.id), ['customer'])));
  app.get('/welcomed', (_req, res) => void res.json({ welcomed }));

  const server = app.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  crmsync.sandbox?.webhooks.setUrl(`${url}/crm/?wpf_action=update&access_key=${encodeURIComponent(crmsync.accessKey)}`);
  /** Stops taking requests, then stops crmsync (work in progress finishes, the store closes). */
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await crmsync.stop();
  };
  return { app, crmsync, url, welcomed, close };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { crmsync, url, close } = await main();
  console.log(`app: ${url}; webhook URL for the CRM: ${crmsync.webhookUrl('update')}; sandbox CRM: ${crmsync.sandbox?.url}`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void close());
}
