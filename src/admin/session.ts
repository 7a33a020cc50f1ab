import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../api/context.js';
import { accessKeyMatches } from '../ingress/access-key.js';
import { adminSessionValid, deleteAdminSession, insertAdminSession } from '../store/admin-sessions.js';
import { html, type Html } from './html.js';
import { sendPage, standalone } from './layout.js';
import type { AdminSetup } from './setup-context.js';

/**
 * Admin sign-in. Sessions are rows (the cookie holds a random id, the table its hash) rather than
 * a signed cookie, so signing out really ends a session and a stolen cookie can be revoked.
 */
export const SESSION_COOKIE = 'crmsync_admin';
const SESSION_TTL_MS = 12 * 3_600_000;

export function cookieValue(request: FastifyRequest, name: string): string | null {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=') || null;
  }
  return null;
}

function sessionCookie(setup: AdminSetup, value: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${setup.secureCookies ? '; Secure' : ''}`;
}

export async function hasSession(ctx: AppContext, request: FastifyRequest): Promise<boolean> {
  const id = cookieValue(request, SESSION_COOKIE);
  return id !== null && /^[A-Za-z0-9_-]{43}$/.test(id) && (await adminSessionValid(ctx.engine.db, id, ctx.engine.clock.now()));
}

/**
 * CSRF: besides SameSite=Strict, a state-changing request must name this very host in its
 * Origin (or, failing that, Referer) header. Browsers always send one of them on a form POST.
 */
export function sameOrigin(request: FastifyRequest): boolean {
  const from = request.headers.origin ?? request.headers.referer;
  if (typeof from !== 'string' || !request.headers.host) return false;
  try {
    return new URL(from).host === request.headers.host;
  } catch {
    return false;
  }
}

/** The sign-in form (also the answer to a refused attempt, with its problem). */
function signInPage(setup: AdminSetup, problem: string | null, next: string): Html {
  return html`<h1>Sign in to crmsync</h1>
${problem ? html`<p role="alert" class="alert level-error" id="sign-in-problem">${problem}</p>` : ''}
<form method="post" action="/admin/sign-in" class="card narrow">
<input type="hidden" name="next" value="${next}">
<label for="credential">API token${setup.password ? ' or admin password' : ''}</label>
<input id="credential" name="credential" type="password" autocomplete="current-password" required autofocus${problem ? html` aria-describedby="sign-in-problem" aria-invalid="true"` : ''}>
<p class="hint">The token is CRMSYNC_API_TOKEN (or the one <code>crmsync serve</code> printed at its first start).</p>
<p><button type="submit">Sign in</button></p>
</form>`;
}

/** Only paths inside the admin UI are followed after sign-in (no open redirect). */
function safeNext(next: string | null | undefined): string {
  return next && /^\/admin\/[^/\\]?/.test(next) && !next.startsWith('//') && !/[\\\s]/.test(next) ? next : '/admin/';
}

export function formFields(request: FastifyRequest): URLSearchParams {
  return new URLSearchParams(Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '');
}

export const sessionPages = (ctx: AppContext, setup: AdminSetup) => ({
  async show(request: FastifyRequest, reply: FastifyReply) {
    if (await hasSession(ctx, request)) return reply.redirect(safeNext((request.query as { next?: string }).next), 303);
    return sendPage(reply, 200, standalone('Sign in', signInPage(setup, null, safeNext((request.query as { next?: string }).next))));
  },

  async signIn(request: FastifyRequest, reply: FastifyReply) {
    const fields = formFields(request);
    const next = safeNext(fields.get('next'));
    if (!sameOrigin(request)) {
      return sendPage(reply, 403, standalone('Sign in', signInPage(setup, 'This form must be sent from the crmsync sign-in page itself (the Origin header did not match).', next)));
    }
    const valid = [...ctx.apiTokens(), ...(setup.password ? [setup.password] : [])];
    if (!accessKeyMatches(fields.get('credential'), valid)) {
      // The attempt is worth knowing about; what was typed never is.
      await ctx.engine.log.write({ level: 'warning', source: 'admin', message: `admin sign-in refused (from ${request.ip ?? 'unknown address'})` });
      return sendPage(reply, 401, standalone('Sign in', signInPage(setup, 'That is not a valid API token or admin password. Check CRMSYNC_API_TOKEN and try again.', next)));
    }
    const id = randomBytes(32).toString('base64url');
    await insertAdminSession(ctx.engine.db, id, ctx.engine.clock.now(), SESSION_TTL_MS);
    await ctx.engine.log.write({ level: 'notice', source: 'admin', message: `admin signed in (from ${request.ip ?? 'unknown address'})` });
    return reply.header('set-cookie', sessionCookie(setup, id, SESSION_TTL_MS / 1000)).redirect(next, 303);
  },

  async signOut(request: FastifyRequest, reply: FastifyReply) {
    const id = cookieValue(request, SESSION_COOKIE);
    if (id) await deleteAdminSession(ctx.engine.db, id);
    return reply.header('set-cookie', sessionCookie(setup, '', 0)).redirect('/admin/sign-in', 303);
  },
});
