import { CrmError } from '../crm/errors.js';
import type { ContactSnapshot } from '../domain/contact.js';
import type { Engine } from '../engine.js';
import { backoffMs } from '../reconcile/backoff.js';
import { passContact } from '../reconcile/reconcile-contact.js';
import type { Db } from '../store/database.js';
import { advanceImport, createImport, findUnfinishedImport, getImport, hasImportUser, recordImportUser, setImportState, type ImportCounts, type ImportRun, type UserValues } from '../store/imports.js';
import { contactKey, type Job } from '../store/jobs.js';
import type { LogEntry } from '../store/log.js';
import { findUser, type User } from '../store/users.js';
import { importRole } from './import-role.js';
import { contactLister, pageSnapshots } from './listing.js';

export interface ImportRequest {
  tag: string | null;
  /** Also update users that exist already (found by contact ID or e-mail); otherwise they are skipped. */
  updateExisting: boolean;
  /** The role of created users (default role when null); checked against the role policy. */
  role: string | null;
  /** Contacts asked per listing page (the adapter may serve fewer). */
  pageSize?: number;
}

export interface ImportHooks {
  /** Before the first page: the run, and whether it continues an unfinished one. */
  onStart?(run: ImportRun, resumed: boolean): void;
  /** After each committed page, with the run's totals so far. */
  onPage?(run: ImportRun): void | Promise<void>;
  /** Asked between pages: true stops the run cleanly (Ctrl-C), to be continued by a re-run. */
  shouldStop?(): boolean;
  /** Waits before retrying a page the CRM failed (real time by default). */
  sleep?(ms: number): Promise<void>;
}

const PAGE_ATTEMPTS = 5;

export function userValues(user: User): UserValues {
  return { email: user.email, role: user.role, fields: { ...user.fields }, tags: [...user.tags].sort() };
}

/**
 * Imports the CRM's contacts as users, page by page. Each page is one transaction: its users,
 * what the import did to each (for undo), the listing cursor and the counts commit together, so
 * a run killed at any point continues at the page it was on, and never creates a user twice
 * (the same find-or-update rule as the `add` webhook: by contact ID, then by e-mail).
 */
export async function runImport(engine: Engine, request: ImportRequest, hooks: ImportHooks = {}): Promise<ImportRun> {
  const { crm, db, clock } = engine;
  const list = contactLister(crm, { byTag: request.tag !== null });
  const role = importRole(engine.roles, request.role);
  const options = { crm: crm.name, tag: request.tag, updateExisting: request.updateExisting, role };
  const unfinished = await findUnfinishedImport(db, options);
  let run = unfinished ?? (await createImport(db, options, clock.now()));
  hooks.onStart?.(run, unfinished !== null);
  const limit = request.pageSize ?? crm.capabilities.listing!.pageSize;
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  for (;;) {
    if (hooks.shouldStop?.()) {
      await setImportState(db, run.id, 'interrupted', clock.now());
      return (await getImport(db, run.id))!;
    }
    let page;
    for (let attempt = 0; ; attempt++) {
      try {
        const listed = await list({ tag: request.tag ?? undefined, cursor: run.cursor, limit });
        page = { listed, ...(await pageSnapshots(crm, listed)) };
        break;
      } catch (error) {
        const retriable = error instanceof CrmError && error.kind !== 'permanent';
        if (!retriable || attempt + 1 >= PAGE_ATTEMPTS) {
          const message = error instanceof Error ? error.message : String(error);
          // Resumable: a re-run with the same options continues at this page.
          await setImportState(db, run.id, 'interrupted', clock.now(), message);
          await engine.log.write({ level: 'error', source: 'import', message: `import #${run.id} stopped: ${message}; run it again to continue` });
          throw error;
        }
        await sleep(error.retryAfterMs ?? backoffMs(attempt));
      }
    }
    await importPage(engine, run, page.snapshots, page.missing, { cursor: page.listed.nextCursor, total: page.listed.total ?? run.total }, request.updateExisting, role);
    run = (await getImport(db, run.id))!;
    await hooks.onPage?.(run);
    if (run.state === 'done') {
      await engine.log.write({
        level: 'info',
        source: 'import',
        message: `import #${run.id} finished: ${run.listed} contacts listed, ${run.created} users created, ${run.updated} updated, ${run.skipped} skipped, ${run.failed} failed`,
      });
      return run;
    }
  }
}

/** One page in one transaction; a contact that fails is rolled back to its savepoint and counted. */
async function importPage(
  engine: Engine,
  run: ImportRun,
  snapshots: ContactSnapshot[],
  missing: string[],
  position: { cursor: string | null; total: number | null },
  updateExisting: boolean,
  role: string | null,
): Promise<void> {
  const counts: ImportCounts = { listed: snapshots.length + missing.length, created: 0, updated: 0, skipped: 0, failed: missing.length };
  const log: LogEntry[] = missing.map((id) => ({ level: 'warning', source: 'import', contactId: id, message: `contact #${id} was listed but could not be loaded (deleted meanwhile?); not imported`, context: { importId: run.id } }));
  const trx = await engine.db.startTransaction().execute();
  try {
    for (const snapshot of snapshots) {
      const pass = await trx.savepoint('contact').execute();
      try {
        const outcome = await importContact(engine, pass, run.id, snapshot, updateExisting, role, log);
        await pass.releaseSavepoint('contact').execute();
        counts[outcome]++;
      } catch (error) {
        await pass.rollbackToSavepoint('contact').execute();
        counts.failed++;
        log.push({ level: 'error', source: 'import', contactId: snapshot.contactId, message: `contact #${snapshot.contactId} not imported: ${(error as Error).message}`, context: { importId: run.id } });
      }
    }
    await engine.log.write(log, trx);
    await advanceImport(trx, run.id, { ...position, counts }, engine.clock.now());
    await trx.commit().execute();
  } catch (error) {
    await trx.rollback().execute().catch(() => undefined);
    throw error;
  }
}

async function importContact(engine: Engine, trx: Db, importId: number, snapshot: ContactSnapshot, updateExisting: boolean, role: string | null, log: LogEntry[]): Promise<'created' | 'updated' | 'skipped' | 'failed'> {
  const existing = (await findUser(trx, { contactId: snapshot.contactId })) ?? (snapshot.email ? await findUser(trx, { email: snapshot.email }) : null);
  // Listed twice in one run (a listing that shifted under us): once is enough.
  if (existing && (await hasImportUser(trx, importId, existing.id))) return 'skipped';
  if (existing && !updateExisting) return 'skipped';
  const now = engine.clock.now();
  const job: Job = {
    id: 0,
    key: contactKey(snapshot.contactId),
    action: 'add',
    contactId: snapshot.contactId,
    userId: existing?.id ?? null,
    // --role is for the users an import creates: a bulk import never changes an existing user's role.
    role: existing ? null : role,
    sendNotification: false,
    webhooks: 0,
    runAt: now,
    state: 'running',
    lockedBy: engine.workerId,
    lockedAt: now,
    attempts: 0,
    lastError: null,
    firstSeenAt: now,
    updatedAt: now,
  };
  const { report } = await passContact(engine, trx, job, snapshot.contactId, snapshot);
  log.push(...report.log.map((e) => ({ ...e, source: 'import', context: { ...e.context, importId } })));
  if (report.error || report.userId === null) return 'failed';
  const after = await findUser(trx, { id: report.userId });
  if (!after) return 'failed';
  await recordImportUser(trx, { importId, userId: after.id, contactId: snapshot.contactId, created: report.createdUser, before: existing ? userValues(existing) : null, after: userValues(after) });
  if (report.createdUser) return 'created';
  const changed = report.added.length || report.removed.length || report.fieldChanges.length || report.role || (existing && existing.email !== after.email);
  return changed ? 'updated' : 'skipped';
}
