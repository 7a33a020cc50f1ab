import { accessTransitions, evaluateTagRules, reasonOf, TAG_SOURCE, type Grant } from '../domain/access.js';
import type { Engine } from '../engine.js';
import { emitEvents } from '../events/emit.js';
import type { AppEvent, ChangeSource } from '../events/types.js';
import type { Db } from '../store/database.js';
import { insertGrant, listActiveGrants, revokeGrants } from '../store/grants.js';
import type { LogEntry } from '../store/log.js';

export interface GrantPlan {
  add: { resource: string; source: string; detail: string; note: string | null }[];
  revoke: { ids: number[]; reason: string }[];
}

/**
 * Writes grant changes in the caller's transaction `db`, with their activity-log lines and,
 * for each resource that became granted or stopped being granted, an `access.granted` or
 * `access.revoked` event in the outbox: the app hears about access exactly when it changes.
 */
export async function changeGrants(
  engine: Engine,
  db: Db,
  user: { id: number; contactId: string | null },
  plan: GrantPlan,
  source: ChangeSource,
  before?: Grant[],
): Promise<{ added: Grant[]; revoked: Grant[] }> {
  const { clock, log } = engine;
  const now = clock.now();
  const was = before ?? (await listActiveGrants(db, user.id));
  const added: Grant[] = [];
  const revoked: Grant[] = [];
  const lines: LogEntry[] = [];
  const line = (message: string, context: Record<string, unknown>) => lines.push({ level: 'info', source: 'access', userId: user.id, contactId: user.contactId, message, context: { ...context, by: source } });
  for (const r of plan.revoke) {
    for (const g of await revokeGrants(db, r.ids, r.reason, now)) {
      revoked.push(g);
      line(`revoked ${g.resource} (${reasonOf(g)}) from user #${user.id}: ${r.reason}`, { resource: g.resource, grant: reasonOf(g) });
    }
  }
  for (const a of plan.add) {
    const g = await insertGrant(db, { userId: user.id, ...a }, now);
    if (!g) continue;
    added.push(g);
    line(`granted ${g.resource} to user #${user.id} (${reasonOf(g)})`, { resource: g.resource, grant: reasonOf(g) });
  }
  if (!added.length && !revoked.length) return { added, revoked };
  const revokedIds = new Set(revoked.map((g) => g.id));
  const after = [...was.filter((g) => !revokedIds.has(g.id)), ...added];
  const t = accessTransitions(was, after);
  const events: AppEvent[] = [
    ...t.granted.map((g): AppEvent => ({ type: 'access.granted', data: { userId: user.id, resource: g.resource, reason: reasonOf(g) } })),
    ...t.revoked.map((g): AppEvent => ({ type: 'access.revoked', data: { userId: user.id, resource: g.resource, reason: reasonOf(revoked.find((r) => r.resource === g.resource) ?? g) } })),
  ];
  await emitEvents(db, events, now);
  await log.write(lines, db);
  return { added, revoked };
}

/**
 * Runs the tag rules on a committed tag change (a CRM read the merge accepted, or the app's own
 * change), in the same transaction. The merge already decided which changes are real: a stale
 * or echoed snapshot never reaches here as a removal. A privileged user keeps what rules granted.
 */
export async function applyTagRules(
  engine: Engine,
  db: Db,
  change: { user: { id: number; contactId: string | null; role: string }; tags: readonly string[]; added: readonly string[]; removed: readonly string[]; source: ChangeSource },
): Promise<void> {
  const rules = engine.rules ?? [];
  if (!rules.length || (!change.added.length && !change.removed.length)) return;
  const before = await listActiveGrants(db, change.user.id);
  const privileged = engine.roles.privileged.includes(change.user.role);
  const outcome = evaluateTagRules(rules, {
    tags: change.tags,
    added: change.added,
    removed: change.removed,
    tagGrants: before.filter((g) => g.source === TAG_SOURCE),
    privileged,
  });
  for (const s of outcome.spared) {
    await engine.log.write({ level: 'notice', source: 'access', userId: change.user.id, contactId: change.user.contactId, message: `kept ${s.resource} (tag:${s.tag}) for privileged user #${change.user.id} (${change.user.role}): ${s.why}, but rules never un-enrol a privileged user` }, db);
  }
  const byWhy = new Map<string, number[]>();
  for (const r of outcome.revoke) byWhy.set(r.why, [...(byWhy.get(r.why) ?? []), r.grantId]);
  await changeGrants(
    engine,
    db,
    change.user,
    {
      add: outcome.grant.map((g) => ({ resource: g.resource, source: TAG_SOURCE, detail: g.tag, note: null })),
      revoke: [...byWhy].map(([reason, ids]) => ({ ids, reason: `${reason}${change.source === 'crm' ? ' in the CRM' : ' by the app'}` })),
    },
    change.source,
    before,
  );
}
