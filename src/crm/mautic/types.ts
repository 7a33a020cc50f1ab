/**
 * Mautic REST API raw shapes (developer.mautic.org, "Contacts", "Tags", "Fields"), for the
 * self-hosted API under `https://<instance>/api/`. Contact ids are integers on the wire;
 * crmsync keeps them as decimal strings. Only what crmsync reads is typed.
 */

/** One field of a contact, inside its group (`fields.core.firstname`). */
export interface MauticFieldValue {
  id?: number | string;
  label?: string;
  alias?: string;
  type?: string;
  group?: string;
  value?: unknown;
}

/**
 * `fields` of a contact: groups (`core`, `social`, `personal`, `professional`; an empty group is
 * `[]`, PHP's empty array) of `alias → {alias, value, …}`, plus `all`, a flat `alias → value` map
 * (API responses only; webhook payloads carry the groups without `all`).
 */
export type MauticContactFields = Record<string, Record<string, MauticFieldValue> | unknown[] | Record<string, unknown> | undefined> & {
  all?: Record<string, unknown>;
};

/** A contact as `GET /api/contacts/{id}` (`{contact}`) and the webhook events (`contact`/`lead`) carry it. */
export interface MauticContact {
  id: number | string;
  dateAdded?: string;
  dateModified?: string | null;
  dateIdentified?: string | null;
  points?: number;
  fields?: MauticContactFields;
  /** `[{"tag": "aTag"}, …]` (with `id` in newer versions); Mautic's test payload has the degenerate `[[]]`. */
  tags?: unknown[];
}

export interface MauticContactResponse {
  contact: MauticContact;
}

/**
 * `GET /api/contacts?search=…` → `{"total": "1", "contacts": {"47": {…}}}`: `contacts` is an object
 * keyed by id (a PHP associative array), `[]` when there is none; `total` may be a string.
 */
export interface MauticContactList {
  total?: number | string;
  contacts?: Record<string, MauticContact> | MauticContact[];
}

export interface MauticTag {
  id: number;
  tag: string;
  description?: string | null;
}

/** `GET /api/tags` → `{"total": 1, "tags": [{id, tag, description}]}`. */
export interface MauticTagList {
  total?: number | string;
  tags?: MauticTag[] | Record<string, MauticTag>;
}

/** One contact field definition, `GET /api/fields/contact`. */
export interface MauticField {
  id: number;
  label: string;
  alias: string;
  type?: string;
  group?: string | null;
  object?: string;
}

export interface MauticFieldList {
  total?: number | string;
  fields?: MauticField[] | Record<string, MauticField>;
}

/** The error body: `{"errors": [{"code": 404, "message": "Item was not found.", "details": []}]}`. */
export interface MauticErrorBody {
  errors?: { code?: number; message?: string; type?: string; details?: unknown }[];
}

/**
 * One event in a webhook body. The body is an object keyed by event type
 * (`mautic.lead_post_save_update`…), each an array of these. Contact events carry the contact as
 * `contact` (Mautic ≥ 2.x) or `lead` (older versions); `mautic.lead_points_change` adds `points`,
 * `mautic.lead_post_delete` an `id`.
 */
export interface MauticWebhookEvent {
  contact?: MauticContact;
  lead?: MauticContact;
  timestamp?: string;
  points?: { old_points?: number; new_points?: number };
  id?: number | string;
}
