import { copyContact, fieldLabel, standardFields, type ChangeSource, type SandboxContact } from './contact.js';
import { SandboxError } from './errors.js';

export type FieldInput = Record<string, string | null>;

export interface ContactInput {
  email: string;
  fields?: FieldInput;
  tags?: readonly string[];
}

export interface TagDelta {
  apply?: readonly string[];
  remove?: readonly string[];
}

export interface UserEdit {
  applyTags?: readonly string[];
  removeTags?: readonly string[];
  fields?: FieldInput;
}

export interface StaleReads {
  /** How many coming API reads of the contact get the old snapshot. */
  reads: number;
  /** The version to serve; default: the one before the current one. */
  version?: number;
}

export type ChangeListener = (contact: SandboxContact, source: ChangeSource) => void;

interface Entry {
  /** Every version, oldest first; the last one is current. */
  history: SandboxContact[];
  stale: { reads: number; version: number } | null;
}

/**
 * The sandbox CRM's data, in memory: contacts with their full version history, every tag and
 * field key ever used. A change that changes nothing (applying a tag the contact has, setting
 * a field to its value) does not bump the version and notifies nobody.
 */
export class SandboxState {
  private readonly entries = new Map<string, Entry>();
  private readonly idByEmail = new Map<string, string>();
  private readonly tagNames = new Set<string>();
  private readonly fieldKeys = new Set<string>(standardFields);
  private readonly listeners = new Set<ChangeListener>();
  private nextId = 1;

  constructor(private readonly now: () => number = Date.now) {}

  /** Called after every change (with a copy of the new version). Returns an unsubscribe. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current version (not affected by stale reads). */
  get(id: string): SandboxContact | undefined {
    const current = this.entries.get(id)?.history.at(-1);
    return current && copyContact(current);
  }

  findByEmail(email: string): SandboxContact | undefined {
    const id = this.idByEmail.get(email.trim().toLowerCase());
    return id === undefined ? undefined : this.get(id);
  }

  list(): SandboxContact[] {
    return [...this.entries.keys()].map((id) => this.get(id)!);
  }

  /**
   * A page of the listing API: contacts in ID order after `after`, with `tag` and changed at
   * or after `updatedAfter` (ms), read like any API read. `next` is the cursor of the page after.
   */
  page(query: { tag?: string; updatedAfter?: number; after?: string; limit: number }): { contacts: SandboxContact[]; total: number; next: string | null } {
    const matching = [...this.entries.entries()]
      .map(([id, entry]) => ({ id: Number(id), current: entry.history.at(-1)! }))
      .filter(({ current }) => query.tag === undefined || current.tags.includes(query.tag))
      .filter(({ current }) => query.updatedAfter === undefined || Date.parse(current.updatedAt) >= query.updatedAfter)
      .sort((a, b) => a.id - b.id);
    const after = query.after === undefined ? 0 : Number(query.after);
    const rest = matching.filter(({ id }) => id > after);
    const slice = rest.slice(0, query.limit);
    return {
      contacts: slice.map(({ id }) => this.read(String(id))!),
      total: matching.length,
      next: rest.length > query.limit ? String(slice.at(-1)!.id) : null,
    };
  }

  /** Every version of a contact, oldest first. */
  history(id: string): SandboxContact[] {
    return (this.entries.get(id)?.history ?? []).map(copyContact);
  }

  /** A read through the API: serves a stale snapshot while `serveStale` says so. */
  read(id: string): SandboxContact | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.stale && entry.stale.reads > 0) {
      const version = entry.stale.version;
      if (--entry.stale.reads === 0) entry.stale = null;
      return copyContact(entry.history[version - 1]!);
    }
    return copyContact(entry.history.at(-1)!);
  }

  /** Make the next `reads` API reads of the contact return the snapshot at `version`. */
  serveStale(id: string, { reads, version }: StaleReads): void {
    const entry = this.entry(id);
    const current = entry.history.length;
    const v = version ?? current - 1;
    if (!Number.isInteger(v) || v < 1 || v > current) {
      throw new SandboxError('bad_request', `contact ${id} has versions 1 to ${current}; cannot serve version ${v}`);
    }
    if (!Number.isInteger(reads) || reads < 0) throw new SandboxError('bad_request', 'reads must be a whole number ≥ 0');
    entry.stale = reads > 0 ? { reads, version: v } : null;
  }

  /** Create a contact as a CRM user would (notifies as a CRM-side change). 409 if the e-mail exists. */
  createContact(input: ContactInput, source: ChangeSource = 'user'): SandboxContact {
    const email = checkEmail(input.email);
    if (this.idByEmail.has(email.toLowerCase())) throw new SandboxError('conflict', `a contact with e-mail ${email} exists`);
    const id = String(this.nextId++);
    const fields: FieldInput = { first_name: null, last_name: null, phone: null };
    applyFields(fields, input.fields ?? {});
    const contact: SandboxContact = {
      id,
      email,
      fields,
      tags: cleanTags(input.tags ?? []).sort(),
      version: 1,
      updatedAt: new Date(this.now()).toISOString(),
    };
    this.entries.set(id, { history: [contact], stale: null });
    this.idByEmail.set(email.toLowerCase(), id);
    this.remember(contact);
    this.emit(contact, source);
    return copyContact(contact);
  }

  /** Create, or update the fields of the contact with that e-mail. */
  upsert(input: ContactInput, source: ChangeSource): { contact: SandboxContact; created: boolean } {
    const existing = this.idByEmail.get(checkEmail(input.email).toLowerCase());
    if (existing === undefined) return { contact: this.createContact(input, source), created: true };
    return { contact: this.change(existing, { fields: input.fields, applyTags: input.tags }, source), created: false };
  }

  updateFields(id: string, fields: FieldInput, source: ChangeSource): SandboxContact {
    return this.change(id, { fields }, source);
  }

  changeTags(id: string, delta: TagDelta, source: ChangeSource): SandboxContact {
    return this.change(id, { applyTags: delta.apply, removeTags: delta.remove }, source);
  }

  /** A change made by a CRM user: always notifies, whatever `echoApiChanges` says. */
  editAsUser(id: string, edit: UserEdit): SandboxContact {
    return this.change(id, edit, 'user');
  }

  /** Every tag name ever used, sorted. */
  tags(): string[] {
    return [...this.tagNames].sort();
  }

  /** Every field key ever used (the standard ones first). */
  fields(): { id: string; name: string }[] {
    return [...this.fieldKeys].map((id) => ({ id, name: fieldLabel(id) }));
  }

  private entry(id: string): Entry {
    const entry = this.entries.get(id);
    if (!entry) throw new SandboxError('not_found', `no contact with id ${id}`);
    return entry;
  }

  private change(id: string, edit: UserEdit, source: ChangeSource): SandboxContact {
    const entry = this.entry(id);
    const current = entry.history.at(-1)!;
    const fields = { ...current.fields };
    applyFields(fields, edit.fields ?? {});
    const tags = new Set(current.tags);
    for (const tag of cleanTags(edit.applyTags ?? [])) tags.add(tag);
    for (const tag of cleanTags(edit.removeTags ?? [])) tags.delete(tag);
    const next: SandboxContact = {
      ...current,
      fields,
      tags: [...tags].sort(),
      version: current.version + 1,
      updatedAt: new Date(this.now()).toISOString(),
    };
    if (sameContent(current, next)) return copyContact(current);
    entry.history.push(next);
    this.remember(next);
    this.emit(next, source);
    return copyContact(next);
  }

  private remember(contact: SandboxContact): void {
    for (const tag of contact.tags) this.tagNames.add(tag);
    for (const key of Object.keys(contact.fields)) this.fieldKeys.add(key);
  }

  private emit(contact: SandboxContact, source: ChangeSource): void {
    for (const listener of this.listeners) {
      try {
        listener(copyContact(contact), source);
      } catch {
        // a listener's failure must not undo or block the change
      }
    }
  }
}

function checkEmail(email: string): string {
  const trimmed = email.trim();
  if (!/^[^\s@]+@[^\s@]+$/.test(trimmed)) throw new SandboxError('bad_request', 'email is not an e-mail address');
  return trimmed;
}

function applyFields(target: FieldInput, input: FieldInput): void {
  for (const [key, value] of Object.entries(input)) {
    if (key === 'email' || key === 'id' || key === 'tags') {
      throw new SandboxError('bad_request', `"${key}" is not a field`);
    }
    target[key] = value;
  }
}

function cleanTags(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.trim()).filter(Boolean))];
}

function sameContent(a: SandboxContact, b: SandboxContact): boolean {
  const keys = new Set([...Object.keys(a.fields), ...Object.keys(b.fields)]);
  for (const key of keys) if ((a.fields[key] ?? null) !== (b.fields[key] ?? null) || key in a.fields !== key in b.fields) return false;
  return a.tags.length === b.tags.length && a.tags.every((t, i) => t === b.tags[i]);
}
