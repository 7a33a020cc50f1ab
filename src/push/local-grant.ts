import { tagsForLocalGrant, type Grant } from '../domain/access.js';
import { changeGrants, applyTagRules } from '../effects/grants.js';
import type { Engine } from '../engine.js';
import { emitEvents, userChangeEvents } from '../events/emit.js';
import { AppError } from '../errors.js';
import { listActiveGrants } from '../store/grants.js';
import { recordOperation } from '../store/operations.js';
import { findUser, setTags } from '../store/users.js';
import { queuePush } from './local-change.js';

/**
 * Grants made and revoked by the host application (a purchase, an admin). A new grant applies
 * its rules' `applyTags` to the user as an ordinary local tag change: recorded as outbound
 * operations and pushed once; the CRM's echo of them is confirmed by the merge and changes nothing.
 */
export async function grantResource(
  engine: Engine,
  userId: number,
  input: { resource: string; source: string; note: string | null },
): Promise<{ grant: Grant; created: boolean; appliedTags: string[] }> {
  const { db, clock, log } = engine;
  return db.transaction().execute(async (trx) => {
    const user = await findUser(trx, { id: userId });
    if (!user) throw new AppError('not_found', `user #${userId} not found`);
    const { added } = await changeGrants(engine, trx, user, { add: [{ ...input, detail: '' }], revoke: [] }, 'app');
    const grant = added[0];
    if (!grant) {
      const existing = (await listActiveGrants(trx, userId)).find((g) => g.resource === input.resource && g.source === input.source && g.detail === '')!;
      return { grant: existing, created: false, appliedTags: [] };
    }
    const apply = tagsForLocalGrant(engine.rules ?? [], input.resource).filter((t) => !user.tags.includes(t));
    if (apply.length) {
      const tags = [...user.tags, ...apply].sort();
      await setTags(trx, userId, user.tags, tags);
      for (const t of apply) await recordOperation(trx, { userId, kind: 'apply_tag', name: t, value: null }, clock.now());
      await queuePush(engine, trx, userId, user.contactId);
      await emitEvents(trx, userChangeEvents({ userId, source: 'app', added: apply }), clock.now());
      await log.write({ level: 'info', source: 'access', userId, contactId: user.contactId, message: `granting ${input.resource} applies tags ${apply.join(', ')} (pushed to the CRM)` }, trx);
      await applyTagRules(engine, trx, { user, tags, added: apply, removed: [], source: 'app' });
    }
    return { grant, created: true, appliedTags: apply };
  });
}

/** Revokes the app's active grants of `resource` from `source`; 404 if there is none. */
export async function revokeResource(engine: Engine, userId: number, input: { resource: string; source: string }): Promise<{ revoked: Grant[]; stillGranted: boolean }> {
  return engine.db.transaction().execute(async (trx) => {
    const user = await findUser(trx, { id: userId });
    if (!user) throw new AppError('not_found', `user #${userId} not found`);
    const before = await listActiveGrants(trx, userId);
    const ids = before.filter((g) => g.resource === input.resource && g.source === input.source).map((g) => g.id);
    if (!ids.length) throw new AppError('not_found', `user #${userId} has no active ${input.source} grant of ${input.resource}`);
    const { revoked } = await changeGrants(engine, trx, user, { add: [], revoke: [{ ids, reason: `revoked by the app (${input.source})` }] }, 'app', before);
    const stillGranted = before.some((g) => g.resource === input.resource && !ids.includes(g.id));
    return { revoked, stillGranted };
  });
}
