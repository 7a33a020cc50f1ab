/**
 * HubSpot raw shapes, as documented (developers.hubspot.com/docs/api-reference, CRM v3 and
 * Lists v3). Record ids are strings on the wire in CRM objects; list ids are strings in the
 * current reference and numbers in older responses, so both are accepted. Only the members
 * crmsync reads are typed; responses carry more.
 */

/** `SimplePublicObject`: a contact as the objects API returns it (see fixtures/contact-get.json). */
export interface HsObject {
  id: string;
  /** Requested properties; a requested but empty property is `null`. */
  properties: Record<string, string | null | undefined>;
  createdAt?: string;
  updatedAt?: string;
  archived?: boolean;
}

/** One error of a batch answer (`207 Multi-Status` or a 4xx). */
export interface HsBatchError {
  status?: string;
  category?: string;
  message?: string;
  context?: Record<string, string[]>;
}

/** `BatchResponseSimplePublicObject` (batch read, batch upsert). */
export interface HsBatchResponse<T = HsObject> {
  status?: string;
  results: T[];
  numErrors?: number;
  errors?: HsBatchError[];
  startedAt?: string;
  completedAt?: string;
}

/** A batch upsert result: the object and whether HubSpot created it. */
export interface HsUpsertResult extends HsObject {
  new?: boolean;
}

/** A list (segment) definition. Only `MANUAL` (static) lists take API membership changes. */
export interface HsList {
  listId: string | number;
  name: string;
  objectTypeId?: string;
  processingType?: 'MANUAL' | 'DYNAMIC' | 'SNAPSHOT' | string;
  listVersion?: number;
}

/** `POST /crm/v3/lists/search`. */
export interface HsListSearchResponse {
  lists: HsList[];
  hasMore?: boolean;
  offset?: number;
  total?: number;
}

/** `POST /crm/v3/lists`, `GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}`. */
export interface HsListResponse {
  list: HsList;
}

/** `PUT /crm/v3/lists/{listId}/memberships/add` and `/remove`. */
export interface HsMembershipChange {
  recordIdsAdded?: string[];
  recordIdsRemoved?: string[];
  recordIdsMissing?: string[];
}

/** `POST /crm/v3/lists/records/memberships/batch/read`. */
export interface HsRecordMemberships {
  objectTypeId: string;
  recordId: string;
  recordListMemberships: { listId: string | number; listVersion?: number; firstAddedTimestamp?: string; lastAddedTimestamp?: string }[];
}

export interface HsMembershipsBatchResponse {
  status?: string;
  results: HsRecordMemberships[];
  numErrors?: number;
  errors?: HsBatchError[];
}

/** `GET /crm/v3/properties/contacts`. */
export interface HsProperty {
  name: string;
  label: string;
  type?: string;
  fieldType?: string;
  hidden?: boolean;
  modificationMetadata?: { readOnlyValue?: boolean };
}

export interface HsPropertyList {
  results: HsProperty[];
}

/**
 * One event of a Webhooks API delivery (the body is a JSON array of these, fewer than 100).
 * `subscriptionType` on live deliveries and in the SDK tests; some doc revisions say `eventType`.
 */
export interface HsWebhookEvent {
  objectId?: number | string;
  subscriptionType?: string;
  eventType?: string;
  /** Generic (`object.*`) subscriptions: `0-1` = contacts. */
  objectTypeId?: string;
  propertyName?: string;
  propertyValue?: string;
  changeSource?: string;
  eventId?: number;
  subscriptionId?: number;
  portalId?: number;
  appId?: number;
  occurredAt?: number;
  attemptNumber?: number;
  /** `contact.merge`: the surviving record and the ones merged into it. */
  primaryObjectId?: number | string;
  mergedObjectIds?: (number | string)[];
}

/** HubSpot's error body: `{status: "error", message, correlationId, category}` (see fixtures/api-429-secondly-limit.json). */
export interface HsErrorBody {
  status?: string;
  message?: string;
  correlationId?: string;
  category?: string;
  policyName?: string;
}

/** A page of a list or search endpoint: `paging.next.after` is the next page's cursor. */
export interface HsPage<T> {
  results: T[];
  total?: number;
  paging?: { next?: { after?: string } };
}

/** `GET /crm/v3/lists/{listId}/memberships` rows. */
export interface HsMembership {
  recordId: string;
  membershipTimestamp?: string;
}
