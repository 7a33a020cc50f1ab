import { runDoctor, type CheckResult } from '../doctor/index.js';

const MARK: Record<CheckResult['status'], string> = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL' };

/** Formats the results in plain words: one line per check, what to fix under it. */
export function formatDoctor(results: readonly CheckResult[]): string {
  const lines = ['crmsync doctor', ''];
  for (const r of results) {
    lines.push(`  ${MARK[r.status]}  ${r.name}: ${r.detail}`);
    if (r.status !== 'ok' && r.fix) lines.push(`        fix: ${r.fix}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push('');
  lines.push(
    failed > 0
      ? `${failed} check(s) failed${warned ? `, ${warned} warning(s)` : ''}. Fix the FAIL lines above, then run \`crmsync doctor\` again. More in docs/troubleshooting.md.`
      : warned > 0
        ? `All checks passed, with ${warned} warning(s).`
        : 'All checks passed.',
  );
  return `${lines.join('\n')}\n`;
}

/** `crmsync doctor`: checks the set-up from the outside, prints what to fix, exits 1 if a check fails. */
export async function doctorCommand(options: { sandboxPort: number; timeout: number }): Promise<void> {
  const results = await runDoctor({ sandboxPort: options.sandboxPort, timeoutMs: options.timeout * 1000 });
  process.stdout.write(formatDoctor(results));
  process.exitCode = results.some((r) => r.status === 'fail') ? 1 : 0;
}
