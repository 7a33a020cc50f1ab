import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../api/context.js';
import { classify } from '../api/error-handler.js';
import { ERROR_STATUS } from '../errors.js';
import { ADMIN_CSS } from './assets/admin-css.js';
import { ADMIN_JS } from './assets/admin-js.js';
import { dashboardPage } from './dashboard.js';
import { html } from './html.js';
import { logPage } from './log.js';
import { usersPage } from './users.js';
import { queuePage } from './queue.js';
import { setupPage } from './setup.js';
import { layout, sendPage, standalone } from './layout.js';
import { hasSession, sameOrigin, sessionPages } from './session.js';

const PUBLIC = new Set(['/admin/sign-in', '/admin/assets/admin.css', '/admin/assets/admin.js']);

/**
 * The admin UI under /admin/: every page needs a session except sign-in and the assets; every
 * POST must come from our own origin. Registered by one line in src/api/routes.ts.
 */
export function adminPages(ctx: AppContext) {
  return async (admin: FastifyInstance) => {
    const setup = ctx.admin;
    if (!setup) return;
    const session = sessionPages(ctx, setup);
    const dashboard = dashboardPage(ctx, setup);
    const log = logPage(ctx);
    const users = usersPage(ctx);
    const queue = queuePage(ctx);
    const setupPages = setupPage(ctx, setup);

    admin.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      // Only our own CSS and JS, no framing, no caching: the pages show live data and the access key.
      reply.header('content-security-policy', "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'same-origin');
      const path = request.url.split('?')[0]!;
      if (!path.startsWith('/admin/assets/')) reply.header('cache-control', 'no-store');
      if (PUBLIC.has(path)) return;
      if (!(await hasSession(ctx, request))) {
        if (path.endsWith('.json')) return reply.status(401).send({ error: { code: 'unauthorized', message: 'sign in at /admin/sign-in' } });
        const next = request.method === 'GET' ? `?next=${encodeURIComponent(request.url)}` : '';
        return reply.redirect(`/admin/sign-in${next}`, 303);
      }
      if (request.method === 'POST' && !sameOrigin(request)) {
        return sendPage(reply, 403, standalone('Refused', html`<h1>Refused</h1><p role="alert" class="alert">This form must be sent from a crmsync admin page (the Origin header did not match this site). Nothing was changed.</p><p><a href="/admin/">Back to the dashboard</a></p>`));
      }
    });

    admin.setErrorHandler(async (error: Error, request, reply) => {
      const { code, message } = classify(error);
      if (code === 'internal_error') request.log.error({ err: error }, 'admin page failed');
      const body = html`<h1>${ERROR_STATUS[code] === 404 ? 'Not found' : 'That did not work'}</h1><p role="alert" class="alert">${message}</p><p><a href="/admin/">Back to the dashboard</a></p>`;
      return sendPage(reply, ERROR_STATUS[code], layout('Error', 'dashboard', body));
    });

    admin.get('/assets/admin.css', async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(ADMIN_CSS));
    admin.get('/assets/admin.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(ADMIN_JS));
    admin.get('/sign-in', session.show);
    admin.post('/sign-in', session.signIn);
    admin.post('/sign-out', session.signOut);
    admin.get('/', dashboard.show);
    admin.get('/dashboard.json', dashboard.json);
    admin.get('/log', log.show);
    admin.get('/users', users.list);
    admin.get('/users/:id', users.show);
    admin.post('/users/:id/reconcile', users.reconcile);
    admin.post('/users/:id/push', users.push);
    admin.get('/queue', queue.show);
    admin.get('/queue/:id', queue.job);
    admin.post('/queue/replay-all', queue.replayAll);
    admin.post('/queue/:id/replay', queue.replay);
    admin.post('/queue/:id/discard', queue.discard);
    admin.get('/setup', setupPages.show);
    admin.post('/setup/crm-check', setupPages.crmCheck);
    admin.post('/setup/rotate/:kind', setupPages.rotate);
    admin.get('/guide', setupPages.guide);
  };
}
