import type { FieldValues } from '../domain/contact.js';
import type { FieldChange } from '../domain/merge.js';

/** The events crmsync sends to the host application (access.* are emitted once grants exist). */
export const EVENT_TYPES = ['user.created', 'user.updated', 'user.tags_changed', 'access.granted', 'access.revoked'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Who made the change: a CRM read (webhook, re-check) or the host application (API). */
export type ChangeSource = 'crm' | 'app';

export interface EventData {
  'user.created': { userId: number; email: string; contactId: string | null; role: string; tags: string[]; fields: FieldValues; source: ChangeSource };
  'user.updated': {
    userId: number;
    fields: FieldChange[];
    role: { from: string; to: string } | null;
    email: { from: string; to: string } | null;
    source: ChangeSource;
  };
  'user.tags_changed': { userId: number; added: string[]; removed: string[]; source: ChangeSource };
  'access.granted': { userId: number; resource: string; reason: string };
  'access.revoked': { userId: number; resource: string; reason: string };
}

export type AppEvent = { [T in EventType]: { type: T; data: EventData[T] } }[EventType];
