import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { hashToken } from '../src/effects/welcome.js';
import { countJobs } from '../src/store/jobs.js';
import { eventually, startHarness, type Harness } from './support/harness.js';

/**
 * Issue 2, section 3 (send_notification): the welcome e-mail over real SMTP, the single-use
 * set-password link served by crmsync, credentials checked through the API, and only hashes
 * stored. Without SMTP, the message is kept in the outbox so the link is never lost.
 */
interface Captured {
  from: string;
  to: string[];
  raw: string;
}

let h: Harness;
let smtp: SMTPServer | null = null;
afterEach(async () => {
  await h?.stop();
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  smtp = null;
});

/** A real SMTP server on a random port that keeps every message it accepts. */
async function startSmtp(): Promise<{ url: string; mail: Captured[] }> {
  const mail: Captured[] = [];
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mail.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp!.listen(0, '127.0.0.1', resolve));
  const { port } = smtp.server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, mail };
}

/** The text of a single-part message, whatever transfer encoding the sender chose. */
function textOf(raw: string): { headers: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, split);
  const body = raw.slice(split + 4);
  const encoding = /^content-transfer-encoding:\s*(\S+)/im.exec(headers)?.[1]?.toLowerCase();
  if (encoding === 'base64') return { headers, text: Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8') };
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return { headers, text: Buffer.from(bytes, 'latin1').toString('utf8') };
  }
  return { headers, text: body };
}

/** The set-password link's path and token (the link's host is CRMSYNC_PUBLIC_URL; the test calls the service where it listens). */
function linkIn(text: string): { path: string; token: string } {
  const match = /https?:\/\/\S+?(\/set-password\?token=([A-Za-z0-9_-]+))/.exec(text);
  expect(match, `a set-password link in:\n${text}`).not.toBeNull();
  return { path: match![1]!, token: match![2]! };
}

const send = (path: string, init?: RequestInit) => fetch(h.service.url + path, init);
const setPassword = (token: string, password: string) =>
  send('/set-password', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, password }).toString() });
const idle = () => eventually(async () => {
  const c = await countJobs(h.service.engine.db);
  return c.pending + c.running + c.retrying === 0;
}, 10_000, 'an idle queue');
const logText = async () => JSON.stringify((await h.api('GET', '/api/log?limit=1000')).body);

describe('welcome e-mail over SMTP', () => {
  it('sends one mail with a single-use set-password link; only hashes are stored; the API verifies the password', async () => {
    const server = await startSmtp();
    h = await startHarness({ env: { CRMSYNC_SMTP_URL: server.url, CRMSYNC_MAIL_FROM: 'Site <site@example.com>' } });
    const c = h.sandbox.state.createContact({ email: 'wendy@example.com', fields: { first_name: 'Wendy' }, tags: ['course-1'] }, 'seed');

    await h.webhook({ wpf_action: 'add', contact_id: c.id, send_notification: 'true' });
    await eventually(() => server.mail.length === 1, 10_000, 'the welcome mail');
    const user = (await h.api('GET', `/api/users?contact_id=${c.id}`)).body.users[0];
    await eventually(async () => (await logText()).includes('welcome e-mail with a set-password link sent to wendy@example.com'), 5000, 'the mail logged');
    await idle();
    expect(server.mail).toHaveLength(1);

    const [mail] = server.mail;
    expect(mail!.from).toBe('site@example.com');
    expect(mail!.to).toEqual(['wendy@example.com']);
    const { headers, text } = textOf(mail!.raw);
    expect(headers).toMatch(/^subject: Your new account$/im);
    expect(text).toContain('Hello Wendy,');
    const { path, token } = linkIn(text);

    // The link opens the form.
    const form = await send(path);
    expect(form.status).toBe(200);
    expect(form.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await form.text();
    expect(page).toContain('<form method="post" action="/set-password">');
    expect(page).toContain(`value="${token}"`);
    expect((await send('/set-password?token=not-a-real-token-0000000000')).status).toBe(400);
    expect((await send('/set-password')).status).toBe(400);

    // Too short: refused, and the token is still good.
    const short = await setPassword(token, 'short');
    expect(short.status).toBe(400);
    expect(await short.text()).toContain('The password must be 10 to 1024 characters long.');
    expect((await send(path)).status).toBe(200);
    expect((await h.api('POST', '/api/auth/verify', { email: 'wendy@example.com', password: 'short' })).body).toEqual({ valid: false });

    // A good one: set. The link is single-use.
    const good = await setPassword(token, 'correct horse battery');
    expect(good.status).toBe(200);
    expect(await good.text()).toContain('Your password is set');
    const again = await setPassword(token, 'another good password');
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('no longer valid');
    expect((await send(path)).status).toBe(400);

    expect(await h.api('POST', '/api/auth/verify', { email: 'wendy@example.com', password: 'correct horse battery' })).toEqual({ status: 200, body: { valid: true, userId: user.id } });
    expect(await h.api('POST', '/api/auth/verify', { email: 'WENDY@example.com', password: 'correct horse battery' })).toEqual({ status: 200, body: { valid: true, userId: user.id } });
    expect((await h.api('POST', '/api/auth/verify', { email: 'wendy@example.com', password: 'another good password' })).body).toEqual({ valid: false });
    expect((await h.api('POST', '/api/auth/verify', { email: 'nobody@example.com', password: 'correct horse battery' })).body).toEqual({ valid: false });

    // What is stored: a scrypt hash, the token's hash, and an outbox copy without the token.
    const { db } = h.service.engine;
    const row = await db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(row.password_hash).not.toContain('correct horse battery');
    const tokens = await db.selectFrom('password_tokens').selectAll().execute();
    expect(tokens).toEqual([expect.objectContaining({ token_hash: hashToken(token), user_id: user.id, used_at: expect.anything() })]);
    const outbox = await db.selectFrom('mail_outbox').selectAll().execute();
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ to_address: 'wendy@example.com', state: 'sent', error: null });
    expect(outbox[0]!.text).not.toContain(token);
    expect(outbox[0]!.text).toContain('/set-password?token=[delivered]');
    expect((await h.api('GET', '/api/mail')).body.messages).toEqual([expect.objectContaining({ state: 'sent', to: 'wendy@example.com' })]);
    expect(await logText()).not.toContain(token);
    expect(JSON.stringify((await h.api('GET', `/api/users/${user.id}`)).body)).not.toMatch(/scrypt|password/);

    // send_notification on an add for a user that exists already: nothing is sent.
    const reconciles = async () => ((await h.api('GET', `/api/log?contact_id=${c.id}&limit=1000`)).body.entries as { source: string }[]).filter((e) => e.source === 'reconcile').length;
    const passes = await reconciles();
    await h.webhook({ wpf_action: 'add', contact_id: c.id, send_notification: 'true' });
    await eventually(async () => (await reconciles()) > passes, 5000, 'the second add processed');
    await idle();
    expect(server.mail).toHaveLength(1);
    expect(await db.selectFrom('mail_outbox').selectAll().execute()).toHaveLength(1);
    expect(await db.selectFrom('password_tokens').selectAll().execute()).toHaveLength(1);
  });

  it('sends nothing for an add without send_notification, nor for update with it', async () => {
    const server = await startSmtp();
    h = await startHarness({ workers: false, env: { CRMSYNC_SMTP_URL: server.url } });
    const a = h.sandbox.state.createContact({ email: 'quiet@example.com' }, 'seed');
    const b = h.sandbox.state.createContact({ email: 'update-only@example.com' }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: a.id });
    await h.webhook({ wpf_action: 'update', contact_id: b.id, send_notification: 'true' });
    await h.drain();
    expect((await h.api('GET', '/api/users')).body.users).toHaveLength(1);
    expect(server.mail).toEqual([]);
    expect((await h.api('GET', '/api/mail')).body.messages).toEqual([]);
  });
});

describe('welcome e-mail without SMTP', () => {
  it('keeps the message in the outbox (state "logged") with a working link', async () => {
    h = await startHarness();
    const c = h.sandbox.state.createContact({ email: 'outbox@example.com', fields: { first_name: 'Otto' } }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: c.id, send_notification: 'true' });
    const messages = (await eventually(async () => {
      const list = (await h.api('GET', '/api/mail')).body.messages as { state: string; to: string; subject: string; text: string }[];
      return list.length ? list : null;
    }, 5000, 'the outbox message'))!;
    expect(messages).toEqual([expect.objectContaining({ state: 'logged', to: 'outbox@example.com', subject: 'Your new account', error: null })]);
    expect(messages[0]!.text).toContain('Hello Otto,');
    const { path, token } = linkIn(messages[0]!.text);
    expect((await send(path)).status).toBe(200);
    expect((await setPassword(token, 'a long enough password')).status).toBe(200);
    expect((await h.api('POST', '/api/auth/verify', { email: 'outbox@example.com', password: 'a long enough password' })).body.valid).toBe(true);
    expect(await logText()).toContain('kept in the outbox (logged)');
  });
});
