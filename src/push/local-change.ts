import type { FieldValues } from '../domain/contact.js';
import { refusedLocalChanges } from '../domain/field-ownership.js';
import { normaliseTags } from '../domain/tags.js';
import type { Engine } from '../engine.js';
import { emitEvents, userChangeEvents } from '../events/emit.js';
import { applyTagRules } from '../effects/grants.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/database.js';
import { contactKey, enqueueJob, userKey } from '../store/jobs.js';
import { recordOperation } from '../store/operations.js';
import { findUser, insertUser, setTags, updateUser, type User } from '../store/users.js';

/**
 * Changes made by the host application. Each commits the local change together with its
 * outbound operations and a push job, in one transaction: the CRM hears about it even if the
 * process dies right after. Only these paths create outbound operations — data written because
 * of a webhook is never pushed back.
 */
export async function registerUser(
  engine: Engine,
  input: { email: string; role: string | null; fields: FieldValues; tags: string[] },
): Promise<User> {
  const { db, clock, log } = engine;
  const user = await db.transaction().execute(async (trx) => {
    if (await findUser(trx, { email: input.email })) throw new AppError('conflict', `a user with e-mail ${input.email} already exists`);
    const tags = normaliseTags(input.tags);
    const id = await insertUser(trx, { email: input.email, contactId: null, role: input.role ?? engine.roles.defaultRole, fields: input.fields, tags, crmState: null }, clock.now());
    for (const tag of tags) await recordOperation(trx, { userId: id, kind: 'apply_tag', name: tag, value: null }, clock.now());
    await queuePush(engine, trx, id, null);
    const role = input.role ?? engine.roles.defaultRole;
    await emitEvents(trx, [{ type: 'user.created', data: { userId: id, email: input.email.toLowerCase(), contactId: null, role, tags, fields: input.fields, source: 'app' } }, ...userChangeEvents({ userId: id, source: 'app', added: tags })], clock.now());
    await applyTagRules(engine, trx, { user: { id, contactId: null, role }, tags, added: tags, removed: [], source: 'app' });
    await log.write({ level: 'info', source: 'api', userId: id, message: `user #${id} (${input.email}) registered; contact will be found or created in the CRM` }, trx);
    return (await findUser(trx, { id }))!;
  });
  return user;
}

export async function changeUser(engine: Engine, id: number, patch: { fields?: FieldValues; role?: string }): Promise<User> {
  const { db, clock, log } = engine;
  return db.transaction().execute(async (trx) => {
    const user = await findUser(trx, { id });
    if (!user) throw new AppError('not_found', `user #${id} not found`);
    const refused = refusedLocalChanges(engine.fieldPolicies, user.fields, patch.fields ?? {});
    if (refused.length) throw new AppError('invalid_request', `field${refused.length > 1 ? 's' : ''} ${refused.join(', ')} ${refused.length > 1 ? 'are' : 'is'} owned by the CRM (owner "crm" in the field settings): change ${refused.length > 1 ? 'them' : 'it'} in the CRM`);
    const changed = Object.entries(patch.fields ?? {}).filter(([name, value]) => (user.fields[name] ?? null) !== value);
    const fields = { ...user.fields, ...Object.fromEntries(changed) };
    await updateUser(trx, id, { fields, ...(patch.role && { role: patch.role }) }, clock.now());
    for (const [name, value] of changed) await recordOperation(trx, { userId: id, kind: 'set_field', name, value }, clock.now());
    if (changed.length) await queuePush(engine, trx, id, user.contactId);
    const role = patch.role && patch.role !== user.role ? { from: user.role, to: patch.role } : null;
    await emitEvents(trx, userChangeEvents({ userId: id, source: 'app', fields: changed.map(([name, to]) => ({ name, from: user.fields[name] ?? null, to })), role }), clock.now());
    const parts = [changed.length ? `fields ${changed.map(([n]) => n).join(', ')}` : '', patch.role && patch.role !== user.role ? `role ${user.role} → ${patch.role}` : ''].filter(Boolean);
    if (parts.length) await log.write({ level: 'info', source: 'api', userId: id, contactId: user.contactId, message: `user #${id} changed by the app: ${parts.join('; ')}` }, trx);
    return (await findUser(trx, { id }))!;
  });
}

export async function changeTags(engine: Engine, id: number, change: { apply: string[]; remove: string[] }): Promise<User> {
  const { db, clock, log } = engine;
  const apply = normaliseTags(change.apply);
  const remove = normaliseTags(change.remove);
  const both = apply.filter((t) => remove.includes(t));
  if (both.length) throw new AppError('invalid_request', `a tag cannot be applied and removed at once: ${both.join(', ')}`);
  return db.transaction().execute(async (trx) => {
    const user = await findUser(trx, { id });
    if (!user) throw new AppError('not_found', `user #${id} not found`);
    const tags = new Set(user.tags);
    for (const t of apply) tags.add(t);
    for (const t of remove) tags.delete(t);
    await setTags(trx, id, user.tags, [...tags]);
    await emitEvents(trx, userChangeEvents({ userId: id, source: 'app', added: [...tags].filter((t) => !user.tags.includes(t)), removed: user.tags.filter((t) => !tags.has(t)) }), clock.now());
    await applyTagRules(engine, trx, { user, tags: [...tags].sort(), added: [...tags].filter((t) => !user.tags.includes(t)), removed: user.tags.filter((t) => !tags.has(t)), source: 'app' });
    // Every requested delta is sent, even one that changes nothing locally: the CRM may differ.
    for (const t of apply) await recordOperation(trx, { userId: id, kind: 'apply_tag', name: t, value: null }, clock.now());
    for (const t of remove) await recordOperation(trx, { userId: id, kind: 'remove_tag', name: t, value: null }, clock.now());
    if (apply.length || remove.length) {
      await updateUser(trx, id, {}, clock.now());
      await queuePush(engine, trx, id, user.contactId);
      await log.write({ level: 'info', source: 'api', userId: id, contactId: user.contactId, message: `tags changed by the app: ${[apply.length ? `apply ${apply.join(', ')}` : '', remove.length ? `remove ${remove.join(', ')}` : ''].filter(Boolean).join('; ')}` }, trx);
    }
    return (await findUser(trx, { id }))!;
  });
}

export async function queuePush(engine: Engine, db: Db, userId: number, contactId: string | null): Promise<void> {
  const now = engine.clock.now();
  await enqueueJob(db, { key: contactId ? contactKey(contactId) : userKey(userId), action: 'push', contactId, userId, role: null, sendNotification: false, webhooks: 0, runAt: now }, now);
}
