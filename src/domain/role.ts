/**
 * Which role a webhook may give a user. Webhooks come from outside: a privileged role is
 * never granted by one, an unknown role falls back to the default, and a privileged user's
 * role is never changed by one. Each refusal carries a notice for the activity log.
 */
export interface RolePolicy {
  roles: readonly string[];
  defaultRole: string;
  privileged: readonly string[];
}

export interface RoleDecision {
  role: string;
  notice: string | null;
}

export function roleForWebhook(policy: RolePolicy, requested: string | null): RoleDecision {
  if (requested === null || requested === '') return { role: policy.defaultRole, notice: null };
  if (!policy.roles.includes(requested)) {
    return { role: policy.defaultRole, notice: `unknown role "${requested}" requested by webhook; using "${policy.defaultRole}"` };
  }
  if (policy.privileged.includes(requested)) {
    return { role: policy.defaultRole, notice: `privileged role "${requested}" is never granted by a webhook; using "${policy.defaultRole}"` };
  }
  return { role: requested, notice: null };
}

/** The role a user ends with after a webhook asked for `requested` (already checked). */
export function nextRole(policy: RolePolicy, current: string, requested: string | null): { role: string; notice: string | null } {
  if (requested === null || requested === current) return { role: current, notice: null };
  if (policy.privileged.includes(current)) {
    return { role: current, notice: `role of privileged user ("${current}") is never changed by a webhook` };
  }
  return { role: requested, notice: null };
}
