/** One finding of `crmsync doctor`: what was checked, how it went, and what to do about it. */
export interface CheckResult {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  /** What was found, in plain words (never a secret). */
  detail: string;
  /** What to do, when the status is not ok. */
  fix?: string;
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail });
export const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'warn', detail, fix });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });

/** A secret as the doctor may show it: its first four characters and its length. */
export function mask(secret: string | null | undefined): string {
  if (!secret) return '(none)';
  return `${secret.slice(0, Math.min(4, Math.floor(secret.length / 4)))}… (${secret.length} characters)`;
}
