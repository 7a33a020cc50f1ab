/**
 * Klaviyo API raw shapes (JSON:API), as documented (developers.klaviyo.com/en/reference and
 * klaviyo/openapi). Profile ids are 26-character ULID-like strings; list ids short strings.
 * Only what crmsync reads is typed.
 */

export interface KlaviyoProfileAttributes {
  email?: string | null;
  phone_number?: string | null;
  external_id?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  organization?: string | null;
  title?: string | null;
  locale?: string | null;
  image?: string | null;
  location?: Record<string, unknown> | null;
  /** Custom properties. */
  properties?: Record<string, unknown> | null;
  created?: string;
  updated?: string;
}

export interface KlaviyoProfile {
  type: 'profile';
  id: string;
  attributes: KlaviyoProfileAttributes;
}

export interface KlaviyoLinks {
  self?: string;
  next?: string | null;
  prev?: string | null;
}

/** `GET /api/profiles/{id}` and `POST /api/profile-import` — see fixtures/contact-get.reconstructed.json. */
export interface KlaviyoProfileDocument {
  data: KlaviyoProfile;
}

/** `GET /api/profiles?filter=…` */
export interface KlaviyoProfileCollection {
  data: KlaviyoProfile[];
  links?: KlaviyoLinks;
}

export interface KlaviyoList {
  type: 'list';
  id: string;
  attributes: { name: string; created?: string; updated?: string };
}

export interface KlaviyoListCollection {
  data: KlaviyoList[];
  links?: KlaviyoLinks;
}

/** `GET /api/profiles/{id}/relationships/lists` */
export interface KlaviyoRelationshipCollection {
  data: { type: string; id: string }[];
  links?: KlaviyoLinks;
}

/** The documented error body (openapi `ClientError`). */
export interface KlaviyoErrorBody {
  errors?: { id?: string; status?: number; code?: string; title?: string; detail?: string; source?: { pointer?: string; parameter?: string } }[];
}

/** A system webhook: a batch of events (`data`, up to 1,000) and `meta` — see fixtures/webhook-system.reconstructed.json. */
export interface KlaviyoSystemWebhook {
  data: {
    external_id?: string;
    topic?: string;
    payload?: { data?: { type?: string; id?: string; relationships?: { profile?: { data?: { type?: string; id?: string } } } } };
  }[];
  meta?: { klaviyo_account_id?: string; klaviyo_webhook_id?: string; timestamp?: string; version?: string };
}
