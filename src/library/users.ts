import { ZodError } from 'zod';
import type { AppContext } from '../api/context.js';
import { classify } from '../api/error-handler.js';
import { presentUser } from '../api/present.js';
import { newUser, tagChange, userId, userPatch, userQuery } from '../api/schemas.js';
import { checkRole } from '../api/users.js';
import { AppError } from '../errors.js';
import { changeTags, changeUser, registerUser } from '../push/local-change.js';
import { listOperations } from '../store/operations.js';
import { findUser, listUsers } from '../store/users.js';

/** A user as the REST API shows it. */
export type CrmsyncUser = ReturnType<typeof presentUser>;
export type CrmsyncUserDetail = CrmsyncUser & { pendingOperations: { kind: string; name: string; value: string | null; state: string }[] };

export interface UsersApi {
  /** The user with this id, with the changes not yet confirmed by the CRM; null if none. */
  get(id: number): Promise<CrmsyncUserDetail | null>;
  /** Users by e-mail, CRM contact id or tag, in id order (`after`: the last id of the previous page). */
  find(query?: { email?: string; contactId?: string; tag?: string; limit?: number; after?: number }): Promise<CrmsyncUser[]>;
  /** A new local user: found or created in the CRM by the pusher, its tags applied there. */
  register(input: { email: string; role?: string; fields?: Record<string, string | null>; tags?: string[] }): Promise<CrmsyncUser>;
  /** Changes fields (pushed to the CRM) and/or the role (local only). */
  update(id: number, patch: { fields?: Record<string, string | null>; role?: string }): Promise<CrmsyncUser>;
  applyTags(id: number, tags: string[]): Promise<CrmsyncUser>;
  removeTags(id: number, tags: string[]): Promise<CrmsyncUser>;
}

/**
 * The host app's typed calls: the REST API's validation and the same local-change functions
 * (one transaction with the outbound operations), so a change made here is pushed to the CRM
 * and its events fire exactly as through `/api/users`. Bad input throws an `AppError` with the
 * code the API would answer (`invalid_request`, `not_found`, `conflict`).
 */
export function usersApi(context: () => AppContext): UsersApi {
  return {
    get: (id) =>
      run(async (ctx) => {
        const user = await findUser(ctx.engine.db, { id: userId.parse(id) });
        if (!user) return null;
        const pending = await listOperations(ctx.engine.db, user.id);
        return { ...presentUser(user), pendingOperations: pending.map((op) => ({ kind: op.kind, name: op.name, value: op.value, state: op.state })) };
      }),
    find: (query = {}) =>
      run(async (ctx) => {
        const q = userQuery.parse({ email: query.email, contact_id: query.contactId, tag: query.tag, limit: query.limit, after: query.after });
        const users = await listUsers(ctx.engine.db, { email: q.email, contactId: q.contact_id, tag: q.tag, limit: q.limit, afterId: q.after });
        return users.map(presentUser);
      }),
    register: (input) =>
      run(async (ctx) => {
        const body = newUser.parse(input ?? {});
        checkRole(ctx, body.role);
        return presentUser(await registerUser(ctx.engine, { email: body.email, role: body.role ?? null, fields: body.fields, tags: body.tags }));
      }),
    update: (id, patch) =>
      run(async (ctx) => {
        const body = userPatch.parse(patch ?? {});
        checkRole(ctx, body.role);
        return presentUser(await changeUser(ctx.engine, userId.parse(id), body));
      }),
    applyTags: (id, tags) => run(async (ctx) => presentUser(await changeTags(ctx.engine, userId.parse(id), tagChange.parse({ apply: tags })))),
    removeTags: (id, tags) => run(async (ctx) => presentUser(await changeTags(ctx.engine, userId.parse(id), tagChange.parse({ remove: tags })))),
  };

  /** Runs a call, wakes the workers (a change queues a push), and reports errors as the API's codes. */
  async function run<T>(call: (ctx: AppContext) => Promise<T>): Promise<T> {
    const ctx = context();
    try {
      return await call(ctx);
    } catch (error) {
      if (error instanceof ZodError) {
        const { code, message } = classify(error);
        throw new AppError(code, message);
      }
      throw error;
    } finally {
      ctx.wake();
    }
  }
}
