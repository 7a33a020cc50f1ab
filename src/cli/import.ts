import { SingleBar } from 'cli-progress';
import { ConfigError, loadConfig } from '../config.js';
import { openEngine } from '../import/engine.js';
import { ImportRefusedError } from '../import/import-role.js';
import { ListingUnsupportedError } from '../import/listing.js';
import { listText, progressLine, startLine, summary, undoText } from '../import/report.js';
import { runImport } from '../import/run-import.js';
import { undoImport } from '../import/undo-import.js';
import { listImports } from '../store/imports.js';

export interface ImportCommandOptions {
  tag?: string;
  updateExisting?: boolean;
  role?: string;
  pageSize?: number;
  list?: boolean;
  undo?: number;
  sandboxPort: number;
}

/** `crmsync import`: contacts → users (resumable), `--list` the imports, `--undo ID` one of them. */
export async function importCommand(options: ImportCommandOptions): Promise<void> {
  if (options.pageSize === 0) return fail('crmsync import: --page-size must be at least 1');
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  let opened;
  try {
    opened = await openEngine(config, { sandboxPort: options.sandboxPort });
  } catch (error) {
    if (error instanceof ImportRefusedError) return fail(`crmsync import: ${error.message}`);
    throw error;
  }
  const { engine } = opened;
  const out = (text: string): void => void process.stdout.write(`${text}\n`);
  try {
    if (options.list) return out(listText(await listImports(engine.db, 50)));
    if (options.undo !== undefined) return out(undoText(await undoImport(engine, options.undo)));

    let stop = false;
    const onSignal = () => {
      if (stop) process.exit(130);
      stop = true;
      process.stderr.write('\nStopping after the current page (Ctrl-C again to quit at once; the page is then done again next time)…\n');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // A bar on a terminal; plain lines when the output is a file or a pipe (logs, CI).
    const bar = process.stdout.isTTY ? new SingleBar({ format: 'import #{id} [{bar}] {value}/{total} contacts | created {created}, updated {updated}, skipped {skipped}, failed {failed}', hideCursor: true }) : null;
    const run = await runImport(
      engine,
      { tag: options.tag ?? null, updateExisting: options.updateExisting ?? false, role: options.role ?? null, pageSize: options.pageSize },
      {
        onStart(run, resumed) {
          out(startLine(run, resumed));
          bar?.start(run.total ?? 0, run.listed, { id: run.id, created: run.created, updated: run.updated, skipped: run.skipped, failed: run.failed });
        },
        onPage(run) {
          if (bar) {
            bar.setTotal(run.total ?? run.listed);
            bar.update(run.listed, { created: run.created, updated: run.updated, skipped: run.skipped, failed: run.failed });
          } else out(progressLine(run));
        },
        shouldStop: () => stop,
      },
    ).finally(() => bar?.stop());
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    out(summary(run));
    if (run.state === 'interrupted') process.exitCode = 130;
  } catch (error) {
    if (error instanceof ImportRefusedError || error instanceof ListingUnsupportedError) return fail(`crmsync import: ${error.message}`);
    const message = error instanceof Error ? error.message : String(error);
    return fail(`crmsync import stopped: ${message}\nRun the same command again to continue where it stopped.`, 1);
  } finally {
    await opened.close();
  }
}

function fail(message: string, code = 2): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = code;
}
