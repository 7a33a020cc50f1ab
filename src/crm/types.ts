import type { ContactDraft, ContactSnapshot, FieldValues } from '../domain/contact.js';
import type { CallOutcome } from './http.js';
import type { RateLimiter } from './rate-limiter.js';
import type { Clock } from '../clock.js';

/**
 * The one interface every CRM adapter implements. Core code only ever talks to this, and
 * reads differences from `capabilities`, never from the CRM's name.
 */
export interface Crm {
  readonly name: string;
  readonly capabilities: CrmCapabilities;
  /** Verify the CRM's signature over the raw request bytes. Throws `CrmWebhookError` on failure. */
  verifyWebhook(request: WebhookRequest): void;
  /** Find the contacts a webhook is about, in the CRM's own payload. */
  parseWebhook(request: WebhookRequest): WebhookParse;
  /**
   * Load contacts by CRM ID, up to `capabilities.maxBatchLoad` per call. A contact the CRM
   * does not know is absent from the map. Fields are returned with local names.
   */
  loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>>;
  findContactByEmail(email: string): Promise<ContactSnapshot | null>;
  /** Create a contact, or update the one with that e-mail; returns its CRM ID. */
  upsertContact(draft: ContactDraft): Promise<string>;
  updateContact(contactId: string, fields: FieldValues): Promise<void>;
  applyTags(contactId: string, tags: readonly string[]): Promise<void>;
  removeTags(contactId: string, tags: readonly string[]): Promise<void>;
  listTags(): Promise<string[]>;
  listFields(): Promise<CrmField[]>;
  /**
   * Lists the account's contacts page by page (optionally those with one tag), where
   * `capabilities.listing.contacts` says the CRM can. Used by `crmsync import`.
   */
  listContacts?(query: ContactListQuery): Promise<ContactPage>;
  /**
   * Lists contacts changed at or after `since` (epoch ms), where `capabilities.listing.changedSince`
   * says the CRM can. Used by the periodic sweep.
   */
  listChangedContacts?(query: ChangedContactsQuery): Promise<ContactPage>;
}

export interface ContactListQuery {
  /** Only contacts with this tag (by name, as crmsync knows tags). */
  tag?: string;
  /** Where the previous page ended; null for the first page. */
  cursor: string | null;
  /** Contacts wanted per page; the adapter may return fewer (its own page size). */
  limit: number;
}

export interface ChangedContactsQuery {
  since: number;
  cursor: string | null;
  limit: number;
}

/**
 * One page of a listing. A CRM whose listing returns whole contacts fills `contacts`; one
 * whose listing lacks tags or fields gives `ids`, which the caller loads with `loadContacts`
 * (in batches).
 */
export interface ContactPage {
  contacts: ContactSnapshot[];
  ids: string[];
  /** Opaque; null when this was the last page. */
  nextCursor: string | null;
  /** How many contacts the whole listing has, when the CRM says (at least on the first page). */
  total?: number;
}

/** What a CRM can list (absent: nothing). */
export interface CrmListing {
  /** `listContacts` works. */
  contacts: boolean;
  /** `listContacts` can filter by tag. */
  byTag: boolean;
  /** `listChangedContacts` works (the CRM filters by modification time). */
  changedSince: boolean;
  /** The largest page the CRM serves. */
  pageSize: number;
}

export interface CrmCapabilities {
  /** How many contacts one load call can fetch (1 = no batch API). */
  maxBatchLoad: number;
  /** Whether the CRM signs its webhooks (then `webhookSecret` is required). */
  signsWebhooks: boolean;
  /** Whether the API addresses tags by ID (the adapter keeps a name⇄ID map). */
  tagsById: boolean;
  /** The CRM's documented API rate limit. */
  rateLimit: { requests: number; perMs: number };
  /** Listing contacts (import, sweep); absent when the CRM's API cannot list them. */
  listing?: CrmListing;
}

export interface CrmField {
  id: string;
  name: string;
}

export interface WebhookRequest {
  method: string;
  /** Path and query string as received. */
  url: string;
  /** The URL the CRM called, as it sees it: CRMSYNC_PUBLIC_URL + `url` (for signatures over the URI). */
  publicUrl: string;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body bytes (empty for GET). */
  body: Buffer;
  /**
   * The body as parsed by ingress: for `application/x-www-form-urlencoded`, a flat map of the
   * keys exactly as sent (`"contact[id]" → "3"`; a repeated key gives a string[]); for JSON,
   * the parsed value. Empty object when there is no body.
   */
  fields: Record<string, unknown>;
}

export interface WebhookParse {
  /** CRM contact IDs named by the payload, deduplicated, in order. */
  contactIds: string[];
  /**
   * Why the payload names no contact on purpose: an event crmsync does not act on (a campaign
   * event, a deletion…). Answered 200 `{"status":"ignored"}` and logged at info.
   */
  ignored?: string;
  /**
   * A verification handshake the CRM expects answered as given (Keap's `X-Hook-Secret` echo,
   * Mailchimp's GET check). Nothing is stored.
   */
  handshake?: { status: number; headers?: Record<string, string>; body?: unknown };
}

/** The mapping of local field names to the CRM's field keys (e.g. `first_name` → `firstName`). */
export type FieldMap = Record<string, string>;

export interface CrmOptions {
  baseUrl: string;
  apiKey: string;
  webhookSecret: string | null;
  fieldMap: FieldMap;
  limiter: RateLimiter;
  clock: Clock;
  /** Per-request timeout. */
  timeoutMs: number;
  /** Called once per HTTP call made to the CRM and per 429 received (metrics). */
  onCall?: (outcome: CallOutcome) => void;
}

export type CrmFactory = (options: CrmOptions) => Crm;
