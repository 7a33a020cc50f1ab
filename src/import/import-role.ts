import type { RolePolicy } from '../domain/role.js';

/** A request the import refuses before doing anything, in plain words. */
export class ImportRefusedError extends Error {
  override readonly name = 'ImportRefusedError';
}

/**
 * The role `--role` asks for, under the webhooks' policy: an unknown role or a privileged one is
 * refused outright (a webhook falls back to the default; an operator at a prompt is told).
 */
export function importRole(policy: RolePolicy, requested: string | null): string | null {
  if (requested === null) return null;
  if (!policy.roles.includes(requested)) {
    throw new ImportRefusedError(`role "${requested}" is not one of CRMSYNC_ROLES (${policy.roles.join(', ')})`);
  }
  if (policy.privileged.includes(requested)) {
    throw new ImportRefusedError(`role "${requested}" is privileged (CRMSYNC_PRIVILEGED_ROLES): an import never grants it, as a webhook never does`);
  }
  return requested;
}
