import { randomBytes } from 'node:crypto';
import type { Clock } from './clock.js';
import { AppError } from './errors.js';
import type { Db } from './store/database.js';
import { loadCredential, rotateCredential, type CredentialKind, type StoredCredential } from './store/credentials.js';
import { getOrCreateSetting } from './store/settings.js';

export const newSecret = (): string => randomBytes(24).toString('base64url');

const ENV_VAR: Record<CredentialKind, string> = { access_key: 'CRMSYNC_ACCESS_KEY', api_token: 'CRMSYNC_API_TOKEN' };
const LABEL: Record<CredentialKind, string> = { access_key: 'access key', api_token: 'API token' };

export interface CredentialInfo {
  /** `environment`: fixed by its variable (rotate by changing it); `stored`: generated, rotatable. */
  source: 'environment' | 'stored';
  rotatedAt: string | null;
  /** Until when the value before the last rotation is still accepted (null: it no longer is). */
  previousValidUntil: string | null;
}

/**
 * One secret as the running service sees it: the current value and, for a grace period after a
 * rotation, the previous one — so CRM automations and API clients can be updated without a gap.
 * Other instances sharing the database pick a rotation up on their next `refresh()`.
 */
export class Credential {
  private listeners: (() => void)[] = [];

  private constructor(
    private readonly db: Db,
    readonly kind: CredentialKind,
    readonly source: CredentialInfo['source'],
    private stored: StoredCredential,
    private readonly clock: Clock,
    /** Whether this start generated the value (the CLI says so). */
    readonly created: boolean,
  ) {}

  static async open(db: Db, kind: CredentialKind, fromEnvironment: string | null, clock: Clock): Promise<Credential> {
    if (fromEnvironment) {
      return new Credential(db, kind, 'environment', { current: fromEnvironment, previous: null, previousUntil: null, rotatedAt: null }, clock, false);
    }
    const { created } = await getOrCreateSetting(db, kind, newSecret);
    return new Credential(db, kind, 'stored', (await loadCredential(db, kind))!, clock, created);
  }

  get current(): string {
    return this.stored.current;
  }

  /** The values accepted right now. */
  valid(): readonly string[] {
    const { current, previous, previousUntil } = this.stored;
    return previous && previousUntil !== null && this.clock.now() < previousUntil ? [current, previous] : [current];
  }

  /** Every value that must never be shown, including a retired one still in use somewhere. */
  secrets(): readonly string[] {
    return this.stored.previous ? [this.stored.current, this.stored.previous] : [this.stored.current];
  }

  info(): CredentialInfo {
    const { rotatedAt, previousUntil } = this.stored;
    const graceOpen = previousUntil !== null && this.clock.now() < previousUntil;
    return {
      source: this.source,
      rotatedAt: rotatedAt === null ? null : new Date(rotatedAt).toISOString(),
      previousValidUntil: graceOpen ? new Date(previousUntil).toISOString() : null,
    };
  }

  /** Called after the current value changed (here or, seen on refresh, on another instance). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  async rotate(graceMs: number): Promise<{ value: string; previousValidUntil: string }> {
    if (this.source === 'environment') {
      throw new AppError('conflict', `the ${LABEL[this.kind]} is set by ${ENV_VAR[this.kind]}: change that variable to rotate it`);
    }
    const now = this.clock.now();
    this.stored = await rotateCredential(this.db, this.kind, newSecret(), now, now + graceMs);
    this.listeners.forEach((l) => l());
    return { value: this.stored.current, previousValidUntil: new Date(now + graceMs).toISOString() };
  }

  async refresh(): Promise<void> {
    if (this.source === 'environment') return;
    const fresh = await loadCredential(this.db, this.kind);
    if (!fresh) return;
    const changed = fresh.current !== this.stored.current;
    this.stored = fresh;
    if (changed) this.listeners.forEach((l) => l());
  }
}
