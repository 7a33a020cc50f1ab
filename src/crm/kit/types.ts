/**
 * Kit (formerly ConvertKit) API v4 raw shapes, as documented (developers.kit.com/api-reference).
 * Ids are integers on the wire. Only the members crmsync reads are typed; responses carry more.
 */

export type KitState = 'active' | 'cancelled' | 'bounced' | 'complained' | 'inactive';

export interface KitSubscriber {
  id: number;
  first_name: string | null;
  email_address: string;
  state?: KitState;
  created_at?: string;
  /** Custom field values keyed by the custom field's `key` (e.g. `last_name`). */
  fields?: Record<string, string | null>;
  /** With `include=tags` on the list endpoint. */
  tags?: { id: number | null; name: string | null }[];
}

/** `GET /v4/subscribers/{id}`, `POST /v4/subscribers`, `PUT /v4/subscribers/{id}`. */
export interface KitSubscriberBody {
  subscriber: KitSubscriber;
  /** Unknown custom field keys that were ignored. */
  warnings?: string[];
}

export interface KitPagination {
  has_previous_page: boolean;
  has_next_page: boolean;
  start_cursor: string | null;
  end_cursor: string | null;
  per_page: number;
  total_count?: number;
}

export interface KitSubscriberList {
  subscribers: KitSubscriber[];
  pagination: KitPagination;
}

export interface KitTag {
  id: number;
  name: string;
  created_at?: string;
  tagged_at?: string;
}

/** `GET /v4/tags` and `GET /v4/subscribers/{id}/tags`. */
export interface KitTagList {
  tags: KitTag[];
  pagination: KitPagination;
}

export interface KitCustomField {
  id: number;
  name: string;
  key: string;
  label: string;
}

export interface KitCustomFieldList {
  custom_fields: KitCustomField[];
  pagination: KitPagination;
}

/** Error bodies: `{"errors": ["Not Found"]}`. A 429 is the plain text `Retry later`. */
export interface KitErrorBody {
  errors: string[];
}

/** New webhooks: `{delivery_id, events: [{id, type, created, data: {subscriber, …}}]}` (1–100 events). */
export interface KitWebhookEnvelope {
  delivery_id: number;
  events: { id: string; type: string; created?: string; data?: { subscriber?: Partial<KitSubscriber> } & Record<string, unknown> }[];
}

/** Legacy rule webhooks (`/v4/webhooks`): `{subscriber: {id, …}}`. */
export interface KitLegacyWebhook {
  subscriber: Partial<KitSubscriber>;
}
