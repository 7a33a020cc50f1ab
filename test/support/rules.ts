import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Harness } from './harness.js';

/** The tag rules the access tests run with, written to a CRMSYNC_CONFIG file. */
export const RULES = [
  { tag: 'bought-101', resource: 'course-101', applyTags: ['bought-101'] },
  { tag: 'bundle', resource: 'course-101' },
  { tag: 'member', resource: 'members-area', revokeTags: ['payment-failed'] },
];

export function rulesConfigFile(rules: unknown[] = RULES): string {
  const file = join(mkdtempSync(join(tmpdir(), 'crmsync-rules-')), 'crmsync.json');
  writeFileSync(file, JSON.stringify({ rules }));
  return file;
}

/** Counts the CRM writes (tag applies and removes) the service makes, passing every call through. */
export function countTagWrites(h: Harness): { applies: string[][]; removes: string[][] } {
  const crm = h.service.engine.crm;
  const seen = { applies: [] as string[][], removes: [] as string[][] };
  const apply = crm.applyTags.bind(crm);
  const remove = crm.removeTags.bind(crm);
  crm.applyTags = async (id, tags) => {
    seen.applies.push([...tags]);
    return apply(id, tags);
  };
  crm.removeTags = async (id, tags) => {
    seen.removes.push([...tags]);
    return remove(id, tags);
  };
  return seen;
}

/** Event types in the outbox for a user, oldest first (an endpoint must be registered). */
export async function accessEvents(h: Harness, userId: number): Promise<{ type: string; resource: string; reason: string }[]> {
  const rows = await h.service.engine.db.selectFrom('event_deliveries').select(['type', 'payload']).where('type', 'like', 'access.%').orderBy('id').execute();
  return rows
    .map((r) => ({ type: r.type, data: JSON.parse(r.payload).data as { userId: number; resource: string; reason: string } }))
    .filter((e) => e.data.userId === userId)
    .map((e) => ({ type: e.type, resource: e.data.resource, reason: e.data.reason }));
}
