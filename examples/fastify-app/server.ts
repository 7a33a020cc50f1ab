import Fastify from 'fastify';
import { createCrmsync, type CrmsyncOptions } from 'crmsync';

/** What CRM tags unlock in this app: a tag → a course. */
const COURSES: Record<string, string> = { customer: 'getting-started', vip: 'masterclass' };

/**
 * A small Fastify app with crmsync mounted at /crm: CRM webhooks come in there, a purchase
 * applies a tag (pushed to the CRM), and CRM tags enrol users in courses through a callback.
 */
export async function main(settings: { port?: number; log?: boolean; crmsync?: CrmsyncOptions } = {}) {
  const port = settings.port ?? 3000;
  const crmsync = createCrmsync({
    databaseUrl: 'sqlite:./data/fastify-app.sqlite',
    publicUrl: `http://127.0.0.1:${port}/crm`,
    crm: { name: 'sandbox' }, // no URL: crmsync starts its sandbox CRM (port 8788)
    ...settings.crmsync,
  });
  const enrolments = new Map<number, Set<string>>();
  crmsync.on('tags.changed', ({ userId, added, removed }) => {
    const courses = enrolments.get(userId) ?? new Set<string>();
    for (const tag of added) if (COURSES[tag]) courses.add(COURSES[tag]);
    for (const tag of removed) if (COURSES[tag]) courses.delete(COURSES[tag]);
    enrolments.set(userId, courses);
  });

  // The webhook URL carries the access key: request logs keep the path only. On close, a CRM's
  // keep-alive socket must not hold the app open (a webhook is acknowledged only once stored).
  const app = Fastify({ forceCloseConnections: true, logger: (settings.log ?? true) && { serializers: { req: (r: { method: string; url: string }) => ({ method: r.method, path: r.url.split('?')[0] }) } } });
  // Starts crmsync now; `own`: app.close() stops it (workers finish, the store closes).
  await app.register(crmsync.fastifyPlugin, { prefix: '/crm', own: true });
  app.post<{ Params: { id: string } }>('/users/:id/purchase', async (request) => crmsync.users.applyTags(Number(request.params.id), ['customer']));
  app.get<{ Params: { id: string } }>('/users/:id/courses', async (request) => ({ courses: [...(enrolments.get(Number(request.params.id)) ?? [])].sort() }));

  const address = await app.listen({ port, host: '127.0.0.1' });
  // On port 0 the address is known only now: tell the sandbox CRM where its webhooks go.
  crmsync.sandbox?.webhooks.setUrl(`${address}/crm/?wpf_action=update&access_key=${encodeURIComponent(crmsync.accessKey)}`);
  return { app, crmsync, url: address, enrolments };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app, crmsync, url } = await main();
  // To the terminal, not the log: the URL holds the access key.
  console.log(`app: ${url}; webhook URL for the CRM: ${crmsync.webhookUrl('update')}; sandbox CRM: ${crmsync.sandbox?.url}`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void app.close());
}
