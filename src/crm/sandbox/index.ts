import type { Crm, CrmCapabilities, CrmFactory } from '../types.js';
import { SandboxClient } from './client.js';
import { effectiveFieldMap, toContactWrite, toSandboxFields, toSnapshot } from './mappers.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

export { defaultFieldMap } from './mappers.js';

/** The sandbox CRM (src/sandbox): a real HTTP CRM for demos and tests. */
export const sandboxCapabilities: CrmCapabilities = {
  maxBatchLoad: 100,
  signsWebhooks: false,
  tagsById: false,
  rateLimit: { requests: 5, perMs: 1000 },
  listing: { contacts: true, byTag: true, changedSince: true, pageSize: 100 },
};

export const sandbox: CrmFactory = (options): Crm => {
  const client = new SandboxClient(options);
  const fieldMap = effectiveFieldMap(options.fieldMap);
  const { maxBatchLoad } = sandboxCapabilities;
  return {
    name: 'sandbox',
    capabilities: sandboxCapabilities,
    verifyWebhook,
    parseWebhook,
    async loadContacts(ids) {
      const unique = [...new Set(ids)];
      const found = new Map<string, ReturnType<typeof toSnapshot>>();
      for (let i = 0; i < unique.length; i += maxBatchLoad) {
        const readAt = options.clock.now();
        for (const raw of await client.getContacts(unique.slice(i, i + maxBatchLoad))) found.set(raw.id, toSnapshot(raw, fieldMap, readAt));
      }
      return found;
    },
    async findContactByEmail(email) {
      const readAt = options.clock.now();
      const raw = await client.findByEmail(email);
      return raw && toSnapshot(raw, fieldMap, readAt);
    },
    async upsertContact(draft) {
      return (await client.upsert(toContactWrite(draft, fieldMap))).id;
    },
    async updateContact(contactId, fields) {
      const mapped = toSandboxFields(fields, fieldMap);
      if (Object.keys(mapped).length > 0) await client.patch(contactId, mapped);
    },
    async applyTags(contactId, tags) {
      if (tags.length > 0) await client.changeTags(contactId, { apply: tags });
    },
    async removeTags(contactId, tags) {
      if (tags.length > 0) await client.changeTags(contactId, { remove: tags });
    },
    async listContacts({ tag, cursor, limit }) {
      const readAt = options.clock.now();
      const page = await client.listContacts({ tag, after: cursor, limit: Math.min(limit, 100) });
      return { contacts: page.contacts.map((raw) => toSnapshot(raw, fieldMap, readAt)), ids: [], nextCursor: page.next, total: page.total };
    },
    async listChangedContacts({ since, cursor, limit }) {
      const readAt = options.clock.now();
      const page = await client.listContacts({ updatedAfter: since, after: cursor, limit: Math.min(limit, 100) });
      return { contacts: page.contacts.map((raw) => toSnapshot(raw, fieldMap, readAt)), ids: [], nextCursor: page.next, total: page.total };
    },
    listTags: () => client.listTags(),
    listFields: () => client.listFields(),
  };
};
