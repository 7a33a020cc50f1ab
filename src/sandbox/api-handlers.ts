import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SandboxDeps } from './deps.js';
import { SandboxError } from './errors.js';
import { contactIdParams, contactsQuery, parse, parseIds, patchBody, tagsBody, upsertBody } from './schemas.js';

/** Handlers of the CRM API (`/api/*`): the part crmsync's sandbox adapter talks to. */
type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export const getContact =
  (d: SandboxDeps): Handler =>
  async (req) => {
    const { id } = parse(contactIdParams, req.params, 'contact id');
    const contact = d.state.read(id);
    if (!contact) throw new SandboxError('not_found', `no contact with id ${id}`);
    return { contact };
  };

export const listContacts =
  (d: SandboxDeps): Handler =>
  async (req) => {
    const query = parse(contactsQuery, req.query, 'query');
    if (query.email !== undefined) {
      const found = d.state.findByEmail(query.email);
      const contact = found && d.state.read(found.id);
      return { contacts: contact ? [contact] : [] };
    }
    if (query.ids === undefined) {
      const page = d.state.page({ tag: query.tag, updatedAfter: query.updated_after ? Date.parse(query.updated_after) : undefined, after: query.after, limit: query.limit });
      return { contacts: page.contacts, total: page.total, next: page.next };
    }
    const contacts = parseIds(query.ids).flatMap((id) => d.state.read(id) ?? []);
    return { contacts };
  };

export const upsertContact =
  (d: SandboxDeps): Handler =>
  async (req, reply) => {
    const body = parse(upsertBody, req.body, 'contact');
    const { contact, created } = d.state.upsert(body, 'api');
    reply.code(created ? 201 : 200);
    return { contact };
  };

export const patchContact =
  (d: SandboxDeps): Handler =>
  async (req) => {
    const { id } = parse(contactIdParams, req.params, 'contact id');
    const { fields } = parse(patchBody, req.body, 'update');
    return { contact: d.state.updateFields(id, fields, 'api') };
  };

export const changeTags =
  (d: SandboxDeps): Handler =>
  async (req) => {
    const { id } = parse(contactIdParams, req.params, 'contact id');
    const delta = parse(tagsBody, req.body, 'tag change');
    return { contact: d.state.changeTags(id, delta, 'api') };
  };

export const listTags = (d: SandboxDeps): Handler => async () => ({ tags: d.state.tags() });

export const listFields = (d: SandboxDeps): Handler => async () => ({ fields: d.state.fields() });
