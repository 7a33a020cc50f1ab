import type { ContactSnapshot } from '../domain/contact.js';
import type { FieldChange } from '../domain/merge.js';
import type { LogEntry } from '../store/log.js';

/** What one reconcile pass of one contact did: returned for the debug page and tests. */
export interface PassReport {
  contactId: string;
  action: string;
  userId: number | null;
  snapshot: ContactSnapshot | null;
  createdUser: boolean;
  added: string[];
  removed: string[];
  fieldChanges: FieldChange[];
  role: { from: string; to: string } | null;
  log: LogEntry[];
  error: string | null;
}

export function emptyReport(contactId: string, action: string): PassReport {
  return { contactId, action, userId: null, snapshot: null, createdUser: false, added: [], removed: [], fieldChanges: [], role: null, log: [], error: null };
}
