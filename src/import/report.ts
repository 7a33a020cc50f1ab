import type { ImportRun } from '../store/imports.js';
import type { UndoResult } from './undo-import.js';

/** What `crmsync import` prints, in plain words (pure, so it is tested without a terminal). */

export function describeOptions(run: ImportRun): string {
  return [
    run.tag === null ? 'all contacts' : `contacts tagged "${run.tag}"`,
    run.updateExisting ? 'existing users updated' : 'existing users left alone',
    `new users get role ${run.role ?? 'default'}`,
  ].join('; ');
}

export function startLine(run: ImportRun, resumed: boolean): string {
  return resumed
    ? `Resuming import #${run.id} from ${run.crm} (${describeOptions(run)}) after ${run.listed} contacts`
    : `Import #${run.id} from ${run.crm}: ${describeOptions(run)}`;
}

export function countsText(run: ImportRun): string {
  return `created ${run.created}, updated ${run.updated}, skipped ${run.skipped}, failed ${run.failed}`;
}

export function progressLine(run: ImportRun): string {
  return `import #${run.id}: ${run.listed}${run.total !== null ? ` of ${run.total}` : ''} contacts (${countsText(run)})`;
}

export function summary(run: ImportRun): string {
  if (run.state === 'interrupted') {
    return `Import #${run.id} stopped after ${run.listed}${run.total !== null ? ` of ${run.total}` : ''} contacts (${countsText(run)}).\nRun the same command again to continue where it stopped.`;
  }
  return [
    `Import #${run.id} done: ${run.listed} contacts listed; ${run.created} users created, ${run.updated} updated, ${run.skipped} skipped, ${run.failed} failed.`,
    run.failed > 0 ? 'The failed contacts are in the activity log (GET /api/log, source import).' : '',
    run.created + run.updated > 0 ? `Undo it with: crmsync import --undo ${run.id}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export function listText(runs: readonly ImportRun[]): string {
  if (runs.length === 0) return 'No imports yet.';
  return runs
    .map((r) => `#${r.id}  ${r.state.padEnd(11)}  ${new Date(r.startedAt).toISOString().slice(0, 16).replace('T', ' ')}  ${r.crm}  ${describeOptions(r)}  —  ${r.listed} listed, ${countsText(r)}${r.error ? `  (${r.error})` : ''}`)
    .join('\n');
}

export function undoText(result: UndoResult): string {
  const lines = [`Import #${result.importId} undone: ${result.deleted.length} users deleted, ${result.restored.length} restored.`];
  if (result.notUndone.length > 0) {
    lines.push(`Not undone (${result.notUndone.length}):`);
    for (const n of result.notUndone) lines.push(`  user #${n.userId}: ${n.reason}`);
  }
  lines.push('Only local users were changed; the CRM was not written to (a later webhook for a restored user brings the CRM values back).');
  return lines.join('\n');
}
