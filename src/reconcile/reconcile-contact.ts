import { syncsFields } from '../domain/action.js';
import type { ContactSnapshot } from '../domain/contact.js';
import { policyOf } from '../domain/field-ownership.js';
import { emailFromCrm } from '../domain/identity.js';
import { merge } from '../domain/merge.js';
import { nextRole } from '../domain/role.js';
import { sameTags } from '../domain/tags.js';
import { applyTagRules } from '../effects/grants.js';
import { sendWelcome } from '../effects/welcome.js';
import { emitEvents, userChangeEvents } from '../events/emit.js';
import type { Engine } from '../engine.js';
import type { Db } from '../store/database.js';
import { completeJob, enqueueJob, type Job } from '../store/jobs.js';
import type { LogEntry } from '../store/log.js';
import { deleteOperations, listOperations } from '../store/operations.js';
import { findUser, insertUser, setTags, updateUser, type User } from '../store/users.js';
import { loadSyncedFields, saveSyncedFields } from '../store/field-sync.js';
import { settleFields } from './field-sync.js';
import { emptyReport, type PassReport } from './report.js';

/**
 * One reconcile pass for one contact, given what the CRM returned: find (or, for `add`,
 * create) the local user, merge the snapshot with the user's unconfirmed local changes, and
 * write the user, the confirmed operations, the log and the job's completion in the caller's
 * transaction (one per batch). Returns the user to welcome, if any: effects run after commit.
 */
export async function reconcileContact(
  engine: Engine,
  trx: Db,
  job: Job,
  contactId: string,
  snapshot: ContactSnapshot | null,
): Promise<{ report: PassReport; welcome: User | null }> {
  const result = await passContact(engine, trx, job, contactId, snapshot);
  await engine.log.write(result.report.log, trx);
  await completeJob(trx, job.id);
  return result;
}

/** The pass itself, without its job or its log lines written (`crmsync import` runs it too). */
export async function passContact(
  engine: Engine,
  trx: Db,
  job: Job,
  contactId: string,
  snapshot: ContactSnapshot | null,
): Promise<{ report: PassReport; welcome: User | null }> {
  const report = emptyReport(contactId, job.action);
  report.snapshot = snapshot;
  // Which worker ran the pass and since when: the log shows a contact is never run twice at once.
  const pass = { worker: engine.workerId, claimedAt: job.lockedAt };
  const note = (level: LogEntry['level'], message: string, context?: Record<string, unknown>) =>
    report.log.push({ level, source: 'reconcile', contactId, userId: report.userId, message, context: { ...context, pass } });

  const welcome = await run();
  return { report, welcome };

  async function run(): Promise<User | null> {
    if (!snapshot) {
      note('error', `contact #${contactId} was not found in the CRM; nothing to ${job.action}`);
      report.error = 'contact_not_found';
      return null;
    }
    // Some CRMs' webhooks name a contact by e-mail: the snapshot carries its real CRM ID.
    const crmId = snapshot.contactId;
    let user = await findUser(trx, { contactId: crmId });
    if (!user && snapshot.email) user = await relinkByEmail(engine, trx, crmId, snapshot.email, note);
    if (user) {
      report.userId = user.id;
      await applySnapshot(engine, trx, job, user, snapshot, report, note);
      return null;
    }
    if (job.action !== 'add') {
      note('notice', `no matching user for contact #${contactId}${snapshot.email ? ` (${snapshot.email})` : ''}; nothing to ${job.action}`);
      return null;
    }
    if (!snapshot.email) {
      note('error', `contact #${contactId} has no e-mail address; cannot create a user`);
      report.error = 'contact_has_no_email';
      return null;
    }
    const role = job.role ?? engine.roles.defaultRole;
    const id = await insertUser(
      trx,
      { email: snapshot.email, contactId: crmId, role, fields: snapshot.fields, tags: snapshot.tags, crmState: { tags: snapshot.tags, fields: snapshot.fields } },
      engine.clock.now(),
    );
    await saveSyncedFields(trx, id, snapshot.fields, engine.clock.now());
    report.userId = id;
    report.createdUser = true;
    report.added = [...snapshot.tags].sort();
    await emitEvents(trx, [{ type: 'user.created', data: { userId: id, email: snapshot.email.toLowerCase(), contactId: crmId, role, tags: report.added, fields: snapshot.fields, source: 'crm' } }, ...userChangeEvents({ userId: id, source: 'crm', added: report.added })], engine.clock.now());
    await applyTagRules(engine, trx, { user: { id, contactId: crmId, role }, tags: report.added, added: report.added, removed: [], source: 'crm' });
    note('info', `created user #${id} (${snapshot.email}) with role ${role} from contact #${contactId}`, { tags: snapshot.tags, fields: snapshot.fields });
    return job.sendNotification ? findUser(trx, { id }) : null;
  }
}

/** The welcome e-mail for a user an `add` pass created with send_notification (after commit). */
export async function welcomeUser(engine: Engine, report: PassReport, user: User): Promise<void> {
  const sent = await sendWelcome(engine, { id: user.id, email: user.email, firstName: user.fields.first_name ?? null });
  const entry: LogEntry = {
    level: 'info',
    source: 'mail',
    userId: user.id,
    contactId: report.contactId,
    message: `welcome e-mail with a set-password link ${sent.state === 'sent' ? 'sent' : `kept in the outbox (${sent.state})`} to ${user.email}`,
    context: { mailId: sent.mailId },
  };
  report.log.push(entry);
  await engine.log.write(entry);
}

type Note = (level: LogEntry['level'], message: string, context?: Record<string, unknown>) => void;

/** A contact ID we do not know, whose e-mail belongs to a user: link that user to it. */
async function relinkByEmail(engine: Engine, db: Db, contactId: string, email: string, note: Note): Promise<User | null> {
  const user = await findUser(db, { email });
  if (!user) return null;
  note('notice', `user #${user.id} (${email}) ${user.contactId ? `was linked to contact #${user.contactId}; ` : ''}re-linked to contact #${contactId} by e-mail`);
  await updateUser(db, user.id, { contactId }, engine.clock.now());
  return { ...user, contactId };
}

async function applySnapshot(engine: Engine, db: Db, job: Job, user: User, snapshot: ContactSnapshot, report: PassReport, note: Note): Promise<void> {
  const withFields = syncsFields(job.action);
  const operations = await listOperations(db, user.id);
  const synced = withFields ? await loadSyncedFields(db, user.id) : {};
  const result = merge({ tags: user.tags, fields: user.fields, snapshot, operations, withFields, settleMs: engine.settleMs, policies: engine.fieldPolicies, synced });
  report.added = result.added;
  report.removed = result.removed;
  report.fieldChanges = result.fieldChanges;

  let role = user.role;
  if (withFields && job.role) {
    const decision = nextRole(engine.roles, user.role, job.role);
    if (decision.notice) note('notice', decision.notice);
    if (decision.role !== user.role) report.role = { from: user.role, to: decision.role };
    role = decision.role;
  }
  let email = user.email;
  if (withFields && snapshot.email && snapshot.email.toLowerCase() !== user.email) {
    const decision = emailFromCrm(engine.roles.privileged, user, snapshot, await findUser(db, { email: snapshot.email }));
    if (decision.note) note(decision.note.level, decision.note.message);
    email = decision.email;
  }

  // Field operations of `crm`/`app`-owned fields are explained by the field notes instead.
  for (const op of result.overridden.filter((o) => o.kind !== 'set_field' || policyOf(engine.fieldPolicies, o.name).owner === 'both')) note('notice', `the CRM changed ${op.kind === 'set_field' ? `field ${op.name}` : `tag "${op.name}"`} after our ${op.kind.replace('_', ' ')} was acknowledged; following the CRM`);
  for (const op of result.held) note('info', `kept local ${op.kind.replace('_', ' ')} "${op.name}": this CRM read may predate it; checking again later`);
  for (const op of result.confirmed) note('info', `CRM confirmed local ${op.kind.replace('_', ' ')} "${op.name}"`);
  if (withFields) await settleFields(engine, db, job, { id: user.id, contactId: snapshot.contactId }, result, operations, synced, note);

  const changed = result.added.length || result.removed.length || result.fieldChanges.length || role !== user.role || email !== user.email;
  if (changed) {
    await setTags(db, user.id, user.tags, result.tags);
    const parts = [
      result.added.length ? `tags added: ${result.added.join(', ')}` : '',
      result.removed.length ? `tags removed: ${result.removed.join(', ')}` : '',
      result.fieldChanges.length ? `fields: ${result.fieldChanges.map((c) => c.name).join(', ')}` : '',
      role !== user.role ? `role: ${user.role} → ${role}` : '',
    ].filter(Boolean);
    note('info', `updated user #${user.id} from contact #${snapshot.contactId} (${job.action}): ${parts.join('; ') || 'e-mail'}`, {
      added: result.added,
      removed: result.removed,
      fields: result.fieldChanges,
    });
  } else if (user.crmState && sameTags(user.crmState.tags, snapshot.tags) && sameFields(user.crmState.fields, snapshot.fields)) {
    note('info', `contact #${snapshot.contactId} equals what we last wrote or read: our own echo or a repeat; nothing changed`);
  } else {
    note('info', `contact #${snapshot.contactId} loaded (${job.action}); local user #${user.id} already up to date`);
  }
  await updateUser(
    db,
    user.id,
    { ...(withFields && { fields: result.fields }), role, email, crmState: { tags: [...snapshot.tags].sort(), fields: { ...(user.crmState?.fields ?? {}), ...snapshot.fields } } },
    engine.clock.now(),
  );
  const events = userChangeEvents({ userId: user.id, source: 'crm', added: result.added, removed: result.removed, fields: result.fieldChanges, role: role !== user.role ? { from: user.role, to: role } : null, email: email !== user.email ? { from: user.email, to: email } : null });
  await emitEvents(db, events, engine.clock.now());
  await applyTagRules(engine, db, { user: { id: user.id, contactId: snapshot.contactId, role }, tags: result.tags, added: result.added, removed: result.removed, source: 'crm' });
  await deleteOperations(db, [...result.confirmed, ...result.overridden].map((op) => op.id));
  if (result.recheckAt !== null) {
    // Settle the held operations either way with one more read after the settle window.
    await enqueueJob(db, { key: job.key, action: 'update_tags', contactId: snapshot.contactId, userId: user.id, role: null, sendNotification: false, webhooks: 0, runAt: result.recheckAt }, engine.clock.now());
  }
}

function sameFields(known: Record<string, string | null>, seen: Record<string, string | null>): boolean {
  return Object.entries(seen).every(([name, value]) => (known[name] ?? null) === value);
}
