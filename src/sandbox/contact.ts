/** A contact as the sandbox CRM stores and serves it. */
export interface SandboxContact {
  /** Numeric string, assigned in order: "1", "2", … */
  id: string;
  /** Unique, compared case-insensitively; kept as first given. */
  email: string;
  /** Always has first_name, last_name and phone; other keys appear once set. */
  fields: Record<string, string | null>;
  /** Sorted, no duplicates. */
  tags: string[];
  /** 1 when created, +1 on every change. */
  version: number;
  updatedAt: string;
}

/** Who made a change: crmsync through the API, a CRM user (UI or `editAsUser`), or the demo seed. */
export type ChangeSource = 'api' | 'user' | 'seed';

export const standardFields = ['first_name', 'last_name', 'phone'] as const;

export function copyContact(contact: SandboxContact): SandboxContact {
  return { ...contact, fields: { ...contact.fields }, tags: [...contact.tags] };
}

/** "favourite_colour" → "Favourite colour". */
export function fieldLabel(key: string): string {
  const words = key.replace(/_/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
