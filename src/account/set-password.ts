import type { FastifyReply, FastifyRequest } from 'fastify';
import { html, page } from '../admin/html.js';
import type { AppContext } from '../api/context.js';
import { credentials } from '../api/schemas.js';
import { hashToken } from '../effects/welcome.js';
import { consumePasswordToken, findPasswordToken } from '../store/password-tokens.js';
import { findUser, getPasswordHash, updateUser } from '../store/users.js';
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from './password.js';

const TOKEN = /^[A-Za-z0-9_-]{20,100}$/;

function form(token: string, problem: string | null): string {
  return page(
    'Choose your password',
    html`<h1>Choose your password</h1>
${problem ? html`<p role="alert" class="level-error">${problem}</p>` : ''}
<form method="post" action="/set-password">
<input type="hidden" name="token" value="${token}">
<label for="password">New password (at least ${MIN_PASSWORD_LENGTH} characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required>
<p><button type="submit">Set password</button></p>
</form>`,
  );
}

const invalid = page('Link expired', html`<h1>This link is no longer valid</h1><p>It was used already or has expired. Ask the site for a new one.</p>`);

/** The set-password page linked from the welcome e-mail, and the API that checks credentials. */
export const accountPages = (ctx: AppContext) => ({
  async show(request: FastifyRequest, reply: FastifyReply) {
    const token = String((request.query as Record<string, unknown>).token ?? '');
    const ok = TOKEN.test(token) && (await findPasswordToken(ctx.engine.db, hashToken(token), ctx.engine.clock.now())) !== null;
    return reply.type('text/html; charset=utf-8').status(ok ? 200 : 400).send(ok ? form(token, null) : invalid);
  },

  async submit(request: FastifyRequest, reply: FastifyReply) {
    const fields = new URLSearchParams(Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '');
    const token = fields.get('token') ?? '';
    const password = fields.get('password') ?? '';
    reply.type('text/html; charset=utf-8');
    if (!TOKEN.test(token)) return reply.status(400).send(invalid);
    if (password.length < MIN_PASSWORD_LENGTH || password.length > 1024) {
      return reply.status(400).send(form(token, `The password must be ${MIN_PASSWORD_LENGTH} to 1024 characters long.`));
    }
    const hash = await hashPassword(password);
    const { db, clock, log } = ctx.engine;
    const userId = await db.transaction().execute(async (trx) => {
      const id = await consumePasswordToken(trx, hashToken(token), clock.now());
      if (id !== null) await updateUser(trx, id, { passwordHash: hash }, clock.now());
      return id;
    });
    if (userId === null) return reply.status(400).send(invalid);
    await log.write({ level: 'info', source: 'account', userId, message: `user #${userId} set a password through the welcome link` });
    return reply.send(page('Password set', html`<h1>Your password is set</h1><p>You can now sign in.</p>`));
  },

  /** `POST /api/auth/verify`: lets the host app check a user's credentials. */
  async verify(request: FastifyRequest) {
    const body = credentials.parse(request.body ?? {});
    const user = await findUser(ctx.engine.db, { email: body.email });
    const hash = user ? await getPasswordHash(ctx.engine.db, user.id) : null;
    const valid = hash !== null && (await verifyPassword(body.password, hash));
    return valid && user ? { valid: true, userId: user.id } : { valid: false };
  },
});
