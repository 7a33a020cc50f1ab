/**
 * Mailchimp Marketing API 3.0 raw shapes, as documented (mailchimp.com/developer/marketing/api).
 * Only the members crmsync reads are typed; responses carry more.
 */

export type McStatus = 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending' | 'transactional' | 'archived';

/** `GET /lists/{list_id}/members/{subscriber_hash}` — see fixtures/contact-get.json. */
export interface McMember {
  /** The subscriber hash: MD5 of the lower-cased e-mail address. */
  id: string;
  email_address: string;
  /** A 10-character id of this address in this list (what webhooks call `data[id]`). */
  unique_email_id?: string;
  status?: McStatus;
  /** Merge tag → value. Text fields are strings; numbers may be numbers; ADDRESS fields are objects. */
  merge_fields?: Record<string, unknown>;
  tags_count?: number;
  tags?: McMemberTag[];
  list_id?: string;
  last_changed?: string;
}

export interface McMemberTag {
  id: number;
  name: string;
  date_added?: string;
}

/** `GET /lists/{list_id}/members/{subscriber_hash}/tags` — see fixtures/member-tags-get.json. */
export interface McMemberTagList {
  tags: McMemberTag[];
  total_items: number;
}

/** `POST /lists/{list_id}/members/{subscriber_hash}/tags` body. Names are created when unknown. */
export interface McTagsUpdate {
  tags: { name: string; status: 'active' | 'inactive' }[];
}

/** `GET /lists/{list_id}/merge-fields`. */
export interface McMergeField {
  merge_id: number;
  tag: string;
  name: string;
  type?: string;
}

export interface McMergeFieldList {
  merge_fields: McMergeField[];
  total_items: number;
}

/** `GET /lists/{list_id}/segments?type=static`: tags are static segments. */
export interface McSegment {
  id: number;
  name: string;
  type: 'saved' | 'static' | 'fuzzy';
  member_count?: number;
}

export interface McSegmentList {
  segments: McSegment[];
  total_items: number;
}

/** Error bodies are `application/problem+json` (RFC 7807). */
export interface McProblem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  errors?: { field?: string; message?: string }[];
}

/** `GET /lists/{list_id}/members`: a page of members (with their tags, up to `tags_count`). */
export interface McMemberList {
  members: McMember[];
  total_items: number;
}
