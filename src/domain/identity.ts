/**
 * Whether a CRM read may change a user's e-mail. The e-mail is how a user signs in: a
 * privileged user's (an administrator's) is never changed from outside, and an address that
 * already belongs to another user is never taken over. Each refusal carries a note for the log.
 */
export interface EmailDecision {
  email: string;
  note: { level: 'info' | 'notice' | 'warning'; message: string } | null;
}

export function emailFromCrm(
  privileged: readonly string[],
  user: { id: number; email: string; role: string },
  crm: { contactId: string; email: string | null },
  /** The user that already has the CRM's address, if any. */
  owner: { id: number } | null,
): EmailDecision {
  const wanted = crm.email?.toLowerCase() ?? null;
  if (wanted === null || wanted === user.email) return { email: user.email, note: null };
  if (privileged.includes(user.role)) return { email: user.email, note: { level: 'notice', message: `e-mail of privileged user #${user.id} is never changed by the CRM (CRM has ${wanted})` } };
  if (owner && owner.id !== user.id) return { email: user.email, note: { level: 'warning', message: `CRM e-mail ${wanted} of contact #${crm.contactId} belongs to user #${owner.id}; e-mail of user #${user.id} left unchanged` } };
  return { email: wanted, note: { level: 'info', message: `e-mail changed from ${user.email} to ${wanted}` } };
}
