/**
 * Brevo API v3 raw shapes, as documented (developers.brevo.com/reference). Contact and list ids
 * are integers on the wire; crmsync keeps them as decimal strings. Only what crmsync reads is typed.
 */

/** `GET /v3/contacts/{identifier}` — see fixtures/contact-get.json. */
export interface BrevoContact {
  id: number;
  email?: string | null;
  emailBlacklisted?: boolean;
  smsBlacklisted?: boolean;
  createdAt?: string;
  modifiedAt?: string;
  /** Attribute name (upper case, e.g. `FIRSTNAME`, `SMS`) → value. */
  attributes?: Record<string, unknown>;
  /** The ids of the lists the contact is in: crmsync's "tags". */
  listIds?: number[];
  listUnsubscribed?: number[];
}

/** `GET /v3/contacts?ids=…` */
export interface BrevoContactList {
  contacts?: BrevoContact[];
  count?: number;
}

/** `POST /v3/contacts` → 201 `{ id }` on create; 204 (no body) when `updateEnabled` updated an existing contact. */
export interface BrevoCreated {
  id?: number;
}

export interface BrevoList {
  id: number;
  name: string;
  folderId?: number;
  totalSubscribers?: number;
}

/** `GET /v3/contacts/lists?limit=50&offset=` */
export interface BrevoListPage {
  lists?: BrevoList[];
  count?: number;
}

export interface BrevoFolder {
  id: number;
  name: string;
}

export interface BrevoFolderPage {
  folders?: BrevoFolder[];
  count?: number;
}

/** `GET /v3/contacts/attributes` */
export interface BrevoAttribute {
  name: string;
  category?: string;
  type?: string;
}

export interface BrevoAttributeList {
  attributes?: BrevoAttribute[];
}

/** The documented error body: `{ code, message }` (e.g. `document_not_found`, `duplicate_parameter`). */
export interface BrevoErrorBody {
  code?: string;
  message?: string;
}

/**
 * One marketing webhook event (JSON). Campaign events carry `email`, `camp_id`, `ts_event`…;
 * contact events (`contact_updated`, `contact_deleted`, `list_addition`) carry the contact's
 * `email` and, per the field lists, its id and the list ids. Only `event`, `email` and
 * id-bearing keys are read.
 */
export interface BrevoWebhookEvent {
  event?: string;
  email?: string;
  contact_id?: number | string;
  properties?: { contact_id?: number | string; email?: string };
  content?: { updated_email?: string; email?: string }[];
  api_key_name?: string;
}
