/**
 * Keap (Infusionsoft) REST API v1 raw shapes, as documented (developer.keap.com REST v1 reference;
 * infusionsoft/public-sdk and keap-sdk generated from Keap's OpenAPI). Ids are integers on the
 * wire. Only the members crmsync reads are typed.
 */

export interface KeapEmailAddress {
  email: string;
  /** `EMAIL1`, `EMAIL2`, `EMAIL3`. */
  field: string;
}

export interface KeapPhoneNumber {
  number: string;
  /** `PHONE1` … `PHONE5`. */
  field: string;
  type?: string;
  extension?: string;
}

export interface KeapCustomFieldValue {
  id: number;
  content: unknown;
}

export interface KeapContact {
  id: number;
  given_name?: string | null;
  family_name?: string | null;
  middle_name?: string | null;
  job_title?: string | null;
  website?: string | null;
  preferred_name?: string | null;
  time_zone?: string | null;
  email_addresses?: KeapEmailAddress[];
  phone_numbers?: KeapPhoneNumber[];
  /** With `optional_properties=custom_fields`. */
  custom_fields?: KeapCustomFieldValue[];
  /** With `optional_properties=tag_ids`. */
  tag_ids?: number[];
  last_updated?: string;
  [key: string]: unknown;
}

/** `GET /contacts?email=…` */
export interface KeapContactList {
  contacts: KeapContact[];
  count?: number;
  next?: string | null;
  previous?: string | null;
}

/** A contact create/update body (`PUT /contacts` with `duplicate_option`, `PATCH /contacts/{id}`). */
export interface KeapContactWrite {
  duplicate_option?: 'Email' | 'EmailAndName';
  email_addresses?: KeapEmailAddress[];
  phone_numbers?: KeapPhoneNumber[];
  custom_fields?: { id: number; content: string }[];
  [standard: string]: unknown;
}

export interface KeapTag {
  id: number;
  name: string;
  description?: string | null;
  category?: { id: number; name?: string } | null;
}

/** `GET /tags?limit=&offset=` */
export interface KeapTagList {
  tags: KeapTag[];
  count?: number;
  next?: string | null;
}

/** `GET /contactCustomFields` (an array). */
export interface KeapCustomField {
  id: number;
  label: string;
  field_type?: string;
  field_name?: string;
}

/** REST hook delivery (developer.keap.com/rest-hook-documentation). Up to 1000 objects per delivery. */
export interface KeapHookDelivery {
  event_key: string;
  object_type?: string;
  object_keys: { id: number | string; apiUrl?: string; timestamp?: string; [key: string]: unknown }[];
}

/** The throttling answer seen in the field (no Retry-After documented). */
export interface KeapErrorBody {
  code?: string;
  message?: string;
  status?: string;
  details?: unknown;
}
