import type { ContactSnapshot } from '../domain/contact.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm } from '../crm/types.js';

/** Why a CRM cannot be listed, in plain words: the import and the sweep say it as is. */
export class ListingUnsupportedError extends Error {
  override readonly name = 'ListingUnsupportedError';
}

/** The CRM's `listContacts`, or a plain-words error when its capabilities say it has none. */
export function contactLister(crm: Crm, options: { byTag: boolean }): (query: ContactListQuery) => Promise<ContactPage> {
  const listing = crm.capabilities.listing;
  if (!listing?.contacts || !crm.listContacts) {
    throw new ListingUnsupportedError(`${crm.name} cannot list its contacts through its API, so crmsync cannot import them; users are created as the CRM's webhooks arrive (wpf_action=add).`);
  }
  if (options.byTag && !listing.byTag) {
    throw new ListingUnsupportedError(`${crm.name} cannot list contacts by tag through its API; run the import without --tag.`);
  }
  return (query) => crm.listContacts!(query);
}

/** The CRM's `listChangedContacts`, or a plain-words error when it cannot list by modification time. */
export function changedContactLister(crm: Crm): (query: ChangedContactsQuery) => Promise<ContactPage> {
  if (!crm.capabilities.listing?.changedSince || !crm.listChangedContacts) {
    throw new ListingUnsupportedError(`${crm.name} cannot list contacts by modification time, so the periodic sweep is off; missed webhooks are not repaired for it.`);
  }
  return (query) => crm.listChangedContacts!(query);
}

/** A page's contacts as snapshots: those the listing returned whole, plus its IDs loaded in batches. */
export async function pageSnapshots(crm: Crm, page: ContactPage): Promise<{ snapshots: ContactSnapshot[]; missing: string[] }> {
  const snapshots = [...page.contacts];
  const missing: string[] = [];
  for (let i = 0; i < page.ids.length; i += crm.capabilities.maxBatchLoad) {
    const ids = page.ids.slice(i, i + crm.capabilities.maxBatchLoad);
    const loaded = await crm.loadContacts(ids);
    for (const id of ids) {
      const snapshot = loaded.get(id);
      if (snapshot) snapshots.push(snapshot);
      else missing.push(id);
    }
  }
  return { snapshots, missing };
}
