/** Field values as crmsync keeps them: local field name → text, or null for "empty". */
export type FieldValues = Record<string, string | null>;

/**
 * A contact as one CRM read saw it, already translated to local field names.
 * `readAt` is the local time the read started: the merge compares it with the time the CRM
 * acknowledged our own changes, to tell a stale snapshot from a newer CRM change.
 */
export interface ContactSnapshot {
  contactId: string;
  email: string | null;
  tags: string[];
  fields: FieldValues;
  readAt: number;
}

/** The fields of a contact we write to the CRM (local names; the adapter maps them). */
export interface ContactDraft {
  email: string;
  fields: FieldValues;
}
