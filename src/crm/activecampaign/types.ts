/**
 * ActiveCampaign API v3 raw shapes, as documented (developers.activecampaign.com/reference).
 * Every id is a string on the wire. Only the members crmsync reads are typed; responses carry more.
 */

export interface AcContact {
  id: string;
  email: string;
  firstName?: string | null;
  lastName?: string | null;
  phone?: string | null;
  cdate?: string;
  udate?: string | null;
  /** With side loading, the ids of the related records in the top-level collections. */
  contactTags?: string[];
  fieldValues?: string[];
}

export interface AcContactTag {
  id: string;
  contact: string;
  /** The tag's id, not its name. */
  tag: string;
  cdate?: string;
}

export interface AcTag {
  id: string;
  tag: string;
  tagType?: string;
  description?: string;
}

export interface AcField {
  id: string;
  title: string;
  type?: string;
  /** The personalization tag, e.g. `CONTACT_OWNER` (used as `%CONTACT_OWNER%` in messages). */
  perstag?: string;
}

export interface AcFieldValue {
  id?: string;
  contact: string;
  field: string;
  value: string | null;
}

export interface AcListMeta {
  /** A numeric string on the real API. */
  total?: string | number;
}

/** `GET /api/3/contacts` (list, with `include=contactTags,fieldValues` side loads). */
export interface AcContactList {
  contacts: AcContact[];
  contactTags?: AcContactTag[];
  fieldValues?: AcFieldValue[];
  meta?: AcListMeta;
}

/** `GET /api/3/contacts/{id}` — see fixtures/contact-get.json. */
export interface AcContactGet {
  contact: AcContact;
  fieldValues?: AcFieldValue[];
  contactTags?: AcContactTag[];
}

/** `POST /api/3/contact/sync` and `PUT /api/3/contacts/{id}` answers. */
export interface AcContactWrite {
  contact: AcContact;
  fieldValues?: AcFieldValue[];
}

export interface AcTagList {
  tags: AcTag[];
  meta?: AcListMeta;
}

export interface AcFieldList {
  fields: AcField[];
  meta?: AcListMeta;
}

export interface AcContactTagList {
  contactTags: AcContactTag[];
}

export interface AcFieldValueList {
  fieldValues: AcFieldValue[];
}

/** Error bodies seen in the docs: `{ message }` (404 on a GET by id) or `{ errors: [...] }` (422). */
export interface AcErrorBody {
  message?: string;
  errors?: { title?: string; detail?: string; code?: string; status?: number; source?: { pointer?: string } }[];
}
