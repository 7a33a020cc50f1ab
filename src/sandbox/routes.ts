import type { FastifyInstance } from 'fastify';
import * as api from './api-handlers.js';
import * as control from './control-handlers.js';
import type { SandboxDeps } from './deps.js';
import * as ui from './ui-handlers.js';

/** Every endpoint of the sandbox, one line each. `/api/*` and `/_sandbox/*` need the API key. */
export function apiRoutes(app: FastifyInstance, d: SandboxDeps): void {
  app.get('/api/contacts/:id', api.getContact(d));
  app.get('/api/contacts', api.listContacts(d)); // ?ids=1,2,3 (≤ 100) or ?email=x, or a listing: ?tag=&updated_after=ISO&after=ID&limit=≤100
  app.post('/api/contacts', api.upsertContact(d)); // upsert by e-mail: 201 created, 200 updated
  app.patch('/api/contacts/:id', api.patchContact(d));
  app.post('/api/contacts/:id/tags', api.changeTags(d)); // { apply?, remove? }
  app.get('/api/tags', api.listTags(d));
  app.get('/api/fields', api.listFields(d));
}

export function controlRoutes(app: FastifyInstance, d: SandboxDeps): void {
  app.get('/_sandbox/stats', control.getStats(d));
  app.post('/_sandbox/stats/reset', control.postStatsReset(d));
  app.post('/_sandbox/webhooks', control.postWebhookControls(d)); // { hold?, duplicate?, delayMs?, url?, echoApiChanges? }
  app.post('/_sandbox/webhooks/release', control.postWebhookRelease(d));
  app.post('/_sandbox/stale', control.postStale(d)); // { contactId, reads, version? }
  app.post('/_sandbox/rate-limit', control.postRefuse(d)); // { calls? }: 429 for the next calls
}

/** Registered in a scope that parses form bodies and refuses cross-site posts. */
export function uiRoutes(app: FastifyInstance, d: SandboxDeps): void {
  app.get('/', ui.getPage(d));
  app.post('/ui/contacts', ui.postCreate(d));
  app.post('/ui/contacts/:id/tags/apply', ui.postApplyTag(d));
  app.post('/ui/contacts/:id/tags/remove', ui.postRemoveTag(d));
  app.post('/ui/contacts/:id/fields', ui.postField(d));
}
