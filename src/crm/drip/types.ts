/**
 * Drip REST API v2 raw shapes, as documented (developer.drip.com, Slate source DripEmail/api-docs).
 * Subscriber ids are opaque strings (`z1togz2hcjrkpp5treip`). Only the members crmsync reads are
 * typed; responses carry more.
 */

export interface DripSubscriber {
  id: string;
  status?: string;
  email: string;
  first_name?: string | null;
  last_name?: string | null;
  address1?: string | null;
  address2?: string | null;
  city?: string | null;
  state?: string | null;
  zip?: string | null;
  country?: string | null;
  phone?: string | null;
  sms_number?: string | null;
  time_zone?: string | null;
  user_id?: string | null;
  /** Custom field identifier → value. */
  custom_fields?: Record<string, unknown>;
  /** Tag **names**. */
  tags?: string[];
  created_at?: string;
  href?: string;
  [key: string]: unknown;
}

/** `GET /v2/:account_id/subscribers/:id_or_email` and `POST /v2/:account_id/subscribers`: an array of one. */
export interface DripSubscriberList {
  links?: Record<string, string>;
  /** On the list endpoint. */
  meta?: { page?: number; count?: number; total_pages?: number; total_count?: number };
  subscribers: DripSubscriber[];
}

/** `POST /v2/:account_id/subscribers` body: one subscriber identified by `email` or `id`. */
export interface DripSubscriberWrite {
  email?: string;
  id?: string;
  new_email?: string;
  custom_fields?: Record<string, string>;
  tags?: string[];
  remove_tags?: string[];
  [standard: string]: unknown;
}

/** `GET /v2/:account_id/tags`: every tag name used in the account. */
export interface DripTagList {
  tags: string[];
}

/** `GET /v2/:account_id/custom_field_identifiers`. */
export interface DripCustomFieldList {
  custom_field_identifiers: string[];
}

/** Documented error body (401/403/404/422): `{ errors: [{ code, message, attribute? }] }`. */
export interface DripErrorBody {
  errors?: { code?: string; message?: string; attribute?: string }[];
  /** The 429 body has a top-level message. */
  message?: string;
}

/** Account-settings webhook delivery (`_webhook_events.md`). */
export interface DripWebhookEvent {
  event: string;
  data?: {
    account_id?: string;
    subscriber?: Partial<DripSubscriber>;
    properties?: Record<string, unknown>;
  };
  occurred_at?: string;
}
