import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Mailer } from '../mail/mailer.js';
import type { Db } from '../store/database.js';
import { insertPasswordToken } from '../store/password-tokens.js';

export const PASSWORD_TOKEN_TTL_MS = 72 * 3600_000;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The welcome e-mail for a user created by an `add` webhook with send_notification=true: a
 * single-use, expiring link to the set-password page served by crmsync. Only the token's hash
 * is stored.
 */
export async function sendWelcome(
  deps: { db: Db; mailer: Mailer; clock: Clock; publicUrl: string },
  user: { id: number; email: string; firstName: string | null },
): Promise<{ state: string; mailId: number }> {
  const token = randomBytes(32).toString('base64url');
  await insertPasswordToken(deps.db, { hash: hashToken(token), userId: user.id, expiresAt: deps.clock.now() + PASSWORD_TOKEN_TTL_MS });
  const link = `${deps.publicUrl}/set-password?token=${token}`;
  const hello = user.firstName ? `Hello ${user.firstName},` : 'Hello,';
  const text = `${hello}\n\nYour account has been created. Choose your password here (the link works once and expires in 72 hours):\n\n${link}\n`;
  const { state, id } = await deps.mailer.send({ to: user.email, subject: 'Your new account', text, secrets: [token] });
  return { state, mailId: id };
}
