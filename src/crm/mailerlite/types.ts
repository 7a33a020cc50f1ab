/**
 * The new MailerLite API's raw shapes (connect.mailerlite.com/api, developers.mailerlite.com).
 * Subscriber, group and field ids are strings of digits on the wire (18 digits: beyond a JS
 * number's exact range), and crmsync keeps them as strings. Only what crmsync reads is typed.
 */

/** A group as embedded in a subscriber and as listed by `GET /groups`. */
export interface MlGroup {
  id: string;
  name: string;
  active_count?: number;
  created_at?: string;
}

/** `GET /subscribers/{id_or_email}` → `{data}`; see fixtures/contact-get.json. */
export interface MlSubscriber {
  id: string;
  email: string;
  status?: string;
  /** Field key (`name`, `last_name`, `z_i_p`, a custom field's key) → value. */
  fields?: Record<string, unknown>;
  /** The groups the subscriber is in: crmsync's "tags". Present on the single-subscriber GET. */
  groups?: MlGroup[];
  created_at?: string;
  updated_at?: string;
}

export interface MlData<T> {
  data: T;
}

/** Page-numbered lists (`GET /groups`, `GET /fields`): `{data, links, meta}`. */
export interface MlPage<T> {
  data?: T[];
  meta?: { current_page?: number; last_page?: number; per_page?: number; total?: number };
}

/** `GET /fields` item: the key is what subscriber `fields` use. */
export interface MlField {
  id: string;
  name: string;
  key: string;
  type?: string;
}

/** `POST /batch` body: up to 50 requests, paths relative and starting with `api/`. */
export interface MlBatchRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
  body?: Record<string, unknown>;
}

/** `POST /batch` answer: one response per request, in the order sent. */
export interface MlBatchAnswer {
  total?: number;
  successful?: number;
  failed?: number;
  responses?: { code: number; body: unknown }[];
}

/** Error bodies: `{"message": "Unauthenticated."}`; 422 adds `errors: {field: [messages]}`. */
export interface MlErrorBody {
  message?: string;
  errors?: Record<string, string[]>;
}

/**
 * One webhook event. Flat subscriber events (`subscriber.created`, `.updated`, `.unsubscribed`…)
 * are the subscriber resource itself plus `event` and `account_id`; group and automation events
 * carry `type`, `subscriber{}` and `group{}`/`automation{}`. Batchable webhooks wrap them as
 * `{events: [...], total}`.
 */
export interface MlWebhookEvent {
  event?: string;
  type?: string;
  id?: unknown;
  email?: unknown;
  subscriber?: { id?: unknown; email?: unknown };
  group?: { id?: unknown; name?: unknown };
  account_id?: number;
}
