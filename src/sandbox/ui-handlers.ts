import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { SandboxDeps } from './deps.js';
import { SandboxError } from './errors.js';
import { renderPage } from './page.js';
import { contactIdParams, parse } from './schemas.js';

/**
 * The HTML page and its form handlers (`/ui/*`): changes made as a CRM user, so they send
 * webhooks whatever `echoApiChanges` says. A refused form comes back as a notice on the page.
 */
type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const createForm = z.object({
  email: z.email(),
  first_name: z.string().max(200).optional(),
  last_name: z.string().max(200).optional(),
});
const tagForm = z.object({ tag: z.string().trim().min(1).max(255) });
const fieldForm = z.object({ key: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'letters, digits and _'), value: z.string().max(10_000).default('') });

export const getPage =
  (d: SandboxDeps): Handler =>
  async (_req, reply) => {
    const notice = d.notice.text ?? undefined;
    d.notice.text = null;
    const page = renderPage({ contacts: d.state.list(), fieldKeys: d.state.fields().map((f) => f.id), tags: d.state.tags(), notice });
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
    return page;
  };

export const postCreate = (d: SandboxDeps) =>
  form(d, (req) => {
    const { email, first_name, last_name } = parse(createForm, req.body, 'contact');
    d.state.createContact({ email, fields: { first_name: first_name || null, last_name: last_name || null } });
  });

export const postApplyTag = (d: SandboxDeps) =>
  form(d, (req) => {
    const { id } = parse(contactIdParams, req.params, 'contact id');
    d.state.editAsUser(id, { applyTags: [parse(tagForm, req.body, 'tag').tag] });
  });

export const postRemoveTag = (d: SandboxDeps) =>
  form(d, (req) => {
    const { id } = parse(contactIdParams, req.params, 'contact id');
    d.state.editAsUser(id, { removeTags: [parse(tagForm, req.body, 'tag').tag] });
  });

export const postField = (d: SandboxDeps) =>
  form(d, (req) => {
    const { id } = parse(contactIdParams, req.params, 'contact id');
    const { key, value } = parse(fieldForm, req.body, 'field');
    d.state.editAsUser(id, { fields: { [key]: value === '' ? null : value } });
  });

/** Run a form's change, then go back to the page (303), with a notice if it was refused. */
function form(d: SandboxDeps, change: (req: FastifyRequest) => void): Handler {
  return async (req, reply) => {
    try {
      change(req);
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      d.notice.text = error.message;
    }
    return reply.redirect('/', 303);
  };
}
