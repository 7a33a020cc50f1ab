import type { FieldChange } from '../domain/merge.js';
import type { Engine } from '../engine.js';
import { emitEvents, userChangeEvents } from '../events/emit.js';
import type { Db } from '../store/database.js';
import { getImport, listImportUsers, setImportState, type ImportUser, type UserValues } from '../store/imports.js';
import type { LogEntry } from '../store/log.js';
import { listOperations } from '../store/operations.js';
import { findUser, setTags, updateUser, type User } from '../store/users.js';
import { ImportRefusedError } from './import-role.js';
import { userValues } from './run-import.js';

export interface UndoResult {
  importId: number;
  /** Users the import created, deleted again. */
  deleted: number[];
  /** Users whose overwritten values were put back (all or some). */
  restored: number[];
  /** What could not be undone, per user, and why. */
  notUndone: { userId: number; reason: string }[];
}

/**
 * Rolls an import back, in one transaction: users it created are deleted unless something
 * changed them since; values it overwrote are restored where they still hold what the import
 * wrote (a later change wins and is reported). Local only: the CRM was never written to.
 */
export async function undoImport(engine: Engine, importId: number): Promise<UndoResult> {
  const { db, clock } = engine;
  const run = await getImport(db, importId);
  if (!run) throw new ImportRefusedError(`there is no import #${importId} (crmsync import --list shows them)`);
  if (run.state === 'undone') throw new ImportRefusedError(`import #${importId} was already undone`);
  const result: UndoResult = { importId, deleted: [], restored: [], notUndone: [] };
  const log: LogEntry[] = [];
  await db.transaction().execute(async (trx) => {
    for (const record of await listImportUsers(trx, importId)) {
      const user = await findUser(trx, { id: record.userId });
      if (!user) {
        if (!record.created) result.notUndone.push({ userId: record.userId, reason: 'the user was deleted since' });
        continue;
      }
      if (record.created) await undoCreated(engine, trx, record, user, result, log);
      else await undoUpdated(engine, trx, record, user, result, log);
    }
    await engine.log.write(
      [...log, { level: 'notice', source: 'import', message: `import #${importId} undone: ${result.deleted.length} users deleted, ${result.restored.length} restored, ${result.notUndone.length} not undone`, context: { importId, notUndone: result.notUndone } }],
      trx,
    );
    await setImportState(trx, importId, 'undone', clock.now());
  });
  return result;
}

async function undoCreated(engine: Engine, trx: Db, record: ImportUser, user: User, result: UndoResult, log: LogEntry[]): Promise<void> {
  const changes = differences(record.after, userValues(user));
  if (user.hasPassword) changes.push('a password was set');
  if ((await listOperations(trx, user.id)).length > 0) changes.push('it has local changes not yet confirmed by the CRM');
  if (changes.length > 0) {
    result.notUndone.push({ userId: user.id, reason: `created by the import but changed since (${changes.join('; ')}); kept` });
    return;
  }
  await trx.deleteFrom('users').where('id', '=', user.id).execute();
  result.deleted.push(user.id);
  log.push({ level: 'info', source: 'import', userId: user.id, contactId: record.contactId, message: `user #${user.id} (${user.email}) deleted: undo of import #${record.importId}, which created it`, context: { importId: record.importId } });
}

async function undoUpdated(engine: Engine, trx: Db, record: ImportUser, user: User, result: UndoResult, log: LogEntry[]): Promise<void> {
  const before = record.before!;
  const after = record.after;
  const kept: string[] = [];
  let role = user.role;
  let email = user.email;
  const fields = { ...user.fields };
  const fieldChanges: FieldChange[] = [];

  if (before.role !== after.role) {
    if (user.role === after.role) role = before.role;
    else kept.push(`role is now ${user.role}, changed since the import`);
  }
  if (before.email !== after.email) {
    if (user.email !== after.email) kept.push(`e-mail is now ${user.email}, changed since the import`);
    else if (await findUser(trx, { email: before.email })) kept.push(`e-mail ${before.email} belongs to another user now`);
    else email = before.email;
  }
  for (const name of new Set([...Object.keys(before.fields), ...Object.keys(after.fields)])) {
    const was = before.fields[name] ?? null;
    const wrote = after.fields[name] ?? null;
    if (was === wrote) continue;
    const now = user.fields[name] ?? null;
    if (now !== wrote) kept.push(`field ${name} changed since the import`);
    else {
      fields[name] = was;
      fieldChanges.push({ name, from: now, to: was });
    }
  }
  // Tags: take back what the import added, give back what it removed, where nothing undid it already.
  const tags = new Set(user.tags);
  const removed = after.tags.filter((t) => !before.tags.includes(t) && tags.delete(t));
  const added = before.tags.filter((t) => !after.tags.includes(t) && !tags.has(t));
  for (const t of added) tags.add(t);

  const changed = role !== user.role || email !== user.email || fieldChanges.length > 0 || removed.length > 0 || added.length > 0;
  if (changed) {
    await setTags(trx, user.id, user.tags, [...tags]);
    await updateUser(trx, user.id, { role, email, fields }, engine.clock.now());
    await emitEvents(
      trx,
      userChangeEvents({ userId: user.id, source: 'app', added, removed, fields: fieldChanges, role: role !== user.role ? { from: user.role, to: role } : null, email: email !== user.email ? { from: user.email, to: email } : null }),
      engine.clock.now(),
    );
    result.restored.push(user.id);
    log.push({
      level: 'info',
      source: 'import',
      userId: user.id,
      contactId: record.contactId,
      message: `user #${user.id} restored (undo of import #${record.importId})`,
      context: { importId: record.importId, added, removed, fields: fieldChanges, role: role !== user.role ? { from: user.role, to: role } : null },
    });
  }
  if (kept.length > 0) result.notUndone.push({ userId: user.id, reason: kept.join('; ') });
}

function differences(expected: UserValues, actual: UserValues): string[] {
  const out: string[] = [];
  if (expected.email !== actual.email) out.push(`e-mail is now ${actual.email}`);
  if (expected.role !== actual.role) out.push(`role is now ${actual.role}`);
  for (const name of new Set([...Object.keys(expected.fields), ...Object.keys(actual.fields)])) {
    if ((expected.fields[name] ?? null) !== (actual.fields[name] ?? null)) out.push(`field ${name} changed`);
  }
  const tags = (a: string[]) => [...a].sort().join('\u0000');
  if (tags(expected.tags) !== tags(actual.tags)) out.push('tags changed');
  return out;
}
