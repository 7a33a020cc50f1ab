import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_KEY, API_TOKEN, startHarness, type Harness } from './support/harness.js';

/**
 * Issue 2, section 8 and invariant 7: bad input gets a clear error — `{"error":{"code","message"}}`
 * with the right status — and changes nothing; the service never answers 500 to input and keeps
 * serving. One service for the whole file; every case checks that the stored state did not move.
 */
const BODY_LIMIT = 2048;
let h: Harness;
let userId: number;
let contactId: string;

beforeAll(async () => {
  h = await startHarness({ workers: false, env: { CRMSYNC_BODY_LIMIT: String(BODY_LIMIT) } });
  // Something to find, so an injection that matched everything would show.
  const c = h.sandbox.state.createContact({ email: 'existing@example.com', tags: ['t'] }, 'seed');
  await h.webhook({ wpf_action: 'add', contact_id: c.id });
  await h.drain();
  const user = (await h.api('GET', `/api/users?contact_id=${c.id}`)).body.users[0];
  userId = user.id;
  contactId = c.id;
});
afterAll(() => h?.stop());

/** Row counts of everything input could change. */
async function counts(): Promise<Record<string, number>> {
  const { db } = h.service.engine;
  const out: Record<string, number> = {};
  for (const table of ['users', 'user_tags', 'operations', 'inbox', 'jobs', 'mail_outbox', 'password_tokens'] as const) {
    const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  const user = await db.selectFrom('users').select(['email', 'role', 'fields', 'contact_id']).where('id', '=', userId).executeTakeFirstOrThrow();
  out[`user:${JSON.stringify(user)}`] = 1;
  return out;
}

const send = (path: string, init: RequestInit = {}) => fetch(h.service.url + path, init);
const auth = { authorization: `Bearer ${API_TOKEN}` };
const jsonHeaders = { ...auth, 'content-type': 'application/json' };
const hook = (query: Record<string, string>) => `/?${new URLSearchParams({ access_key: ACCESS_KEY, ...query })}`;

/** Sends a request and checks the clear error it must get, and that nothing changed. */
async function expectError(path: string, init: RequestInit, status: number, code: string): Promise<void> {
  const before = await counts();
  const res = await send(path, init);
  const what = `${init.method ?? 'GET'} ${path.slice(0, 120)}`;
  expect(res.status, what).toBe(status);
  expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body), what).toEqual(['error']);
  expect(Object.keys(body.error).sort(), what).toEqual(['code', 'message']);
  expect(body.error.code, what).toBe(code);
  expect(body.error.message.length, what).toBeGreaterThan(0);
  expect(await counts(), `${what} changed nothing`).toEqual(before);
}

const INJECTIONS = [
  "' OR '1'='1",
  "1; DROP TABLE users; --",
  "1 UNION SELECT password_hash FROM users",
  '"><script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  '\u0000',
  '\r\nX-Injected: 1',
  '${jndi:ldap://x}',
  '{{7*7}}',
  '*',
  '%',
  '_',
  'x'.repeat(5000),
  '-1',
  '1e309',
  '99999999999999999999999999',
];

describe('oversized bodies', () => {
  it(`refuses a webhook or API body over CRMSYNC_BODY_LIMIT with 413 payload_too_large`, async () => {
    const big = 'x'.repeat(BODY_LIMIT * 2);
    await expectError(hook({ wpf_action: 'update', contact_id: '1' }), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `pad=${big}` }, 413, 'payload_too_large');
    await expectError(hook({ wpf_action: 'update' }), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contact: { id: 1 }, pad: big }) }, 413, 'payload_too_large');
    await expectError('/api/users', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ email: 'big@example.com', fields: { first_name: big } }) }, 413, 'payload_too_large');
    await expectError(`/api/users/${userId}/tags`, { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ apply: Array.from({ length: 400 }, (_, i) => `tag-${i}`) }) }, 413, 'payload_too_large');
  });
});

describe('malformed bodies and wrong content types', () => {
  it('answers 400 malformed_body to malformed JSON, for the webhook and the API', async () => {
    const json = { 'content-type': 'application/json' };
    await expectError(hook({ wpf_action: 'update', contact_id: '1' }), { method: 'POST', headers: json, body: '{"contact": {"id": 1' }, 400, 'malformed_body');
    await expectError(hook({ wpf_action: 'update' }), { method: 'POST', headers: json, body: '"just a string"' }, 400, 'malformed_body');
    await expectError(hook({ wpf_action: 'update' }), { method: 'POST', headers: json, body: 'null' }, 400, 'malformed_body');
    await expectError('/api/users', { method: 'POST', headers: jsonHeaders, body: '{"email": "a@example.com",' }, 400, 'malformed_body');
    await expectError(`/api/users/${userId}`, { method: 'PATCH', headers: jsonHeaders, body: "{'fields': {}}" }, 400, 'malformed_body');
    await expectError(`/api/users/${userId}/tags`, { method: 'POST', headers: jsonHeaders, body: '{"apply": [1,]}' }, 400, 'malformed_body');
    await expectError('/api/auth/verify', { method: 'POST', headers: jsonHeaders, body: '\u0000' }, 400, 'malformed_body');
  });

  it('answers 400 to a payload whose contact id is not an id', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    for (const id of ['../../etc/passwd', '1;DROP TABLE users', '<script>']) {
      const body = new URLSearchParams({ 'contact[id]': id }).toString();
      await expectError(hook({ wpf_action: 'update' }), { method: 'POST', headers: form, body }, 400, 'malformed_body');
      await expectError(hook({ wpf_action: 'update' }), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contact: { id } }) }, 400, 'malformed_body');
    }
  });

  it('answers 415 unsupported_media_type to other content types', async () => {
    for (const type of ['text/xml', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'text/plain']) {
      await expectError(hook({ wpf_action: 'update', contact_id: '1' }), { method: 'POST', headers: { 'content-type': type }, body: '<contact><id>1</id></contact>' }, 415, 'unsupported_media_type');
      await expectError('/api/users', { method: 'POST', headers: { ...auth, 'content-type': type }, body: '{"email":"typed@example.com"}' }, 415, 'unsupported_media_type');
    }
    await expectError('/api/users', { method: 'POST', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=form@example.com' }, 415, 'unsupported_media_type');
  });
});

describe('invalid parameters', () => {
  it('refuses invalid webhook parameters with 400 invalid_request', async () => {
    for (const id of ['../../etc/passwd', '1;DROP TABLE users', '<script>', "1' OR '1'='1", ' 1', '1\u0000', '%2e%2e%2f', 'x'.repeat(129)]) {
      await expectError(hook({ wpf_action: 'update', contact_id: id }), {}, 400, 'invalid_request');
      await expectError('/', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ wpf_action: 'update', access_key: ACCESS_KEY, contact_id: id }).toString() }, 400, 'invalid_request');
    }
    for (const role of ['<script>', 'admin;drop', 'x'.repeat(65), '../root']) await expectError(hook({ wpf_action: 'update', contact_id: '1', role }), {}, 400, 'invalid_request');
    await expectError(hook({ wpf_action: 'add', contact_id: '1', send_notification: 'maybe' }), {}, 400, 'invalid_request');
    // The debug page refuses the same way, with JSON, not a page.
    await expectError(hook({ wpf_action: 'update', contact_id: '<script>' }), { headers: { accept: 'text/html' } }, 400, 'invalid_request');
  });

  it('refuses invalid e-mails, unknown roles and unknown fields on the API with 400 invalid_request', async () => {
    const post = (path: string, body: unknown, method = 'POST') => ({ path, init: { method, headers: jsonHeaders, body: JSON.stringify(body) } });
    const cases = [
      ...['not-an-email', 'a@b', '', ' ', '<script>@example.com', "a@example.com' OR '1'='1", 'a@@example.com', `${'x'.repeat(250)}@example.com`, 'a@example.com\r\nBcc: b@example.com'].map((email) => post('/api/users', { email })),
      post('/api/users', { email: 42 }),
      post('/api/users', {}),
      post('/api/users', []),
      post('/api/users', { email: 'role@example.com', role: 'superuser' }),
      post('/api/users', { email: 'role@example.com', role: '' }),
      post('/api/users', { email: 'role@example.com', isAdmin: true }),
      post('/api/users', { email: 'role@example.com', password_hash: 'scrypt$x' }),
      post('/api/users', { email: 'role@example.com', fields: { 'First-Name': 'x' } }),
      post('/api/users', { email: 'role@example.com', fields: { first_name: 42 } }),
      post('/api/users', { email: 'role@example.com', tags: 'vip' }),
      post('/api/users', { email: 'role@example.com', tags: ['ok', 'bad\u0007tag'] }),
      post('/api/users', { email: 'role@example.com', tags: [''] }),
      post('/api/users', { email: 'nul@example.com', fields: { first_name: 'a\u0000b' } }),
      post(`/api/users/${userId}`, { fields: { last_name: '\u0000' } }, 'PATCH'),
      post(`/api/users/${userId}`, { role: 'root' }, 'PATCH'),
      post(`/api/users/${userId}`, { email: 'new@example.com' }, 'PATCH'),
      { path: `/api/users/${userId}`, init: { method: 'PATCH', headers: jsonHeaders, body: '{"__proto__":{"role":"administrator"}}' } },
      post(`/api/users/${userId}/tags`, { apply: ['a'], add: ['b'] }),
      post(`/api/users/${userId}/tags`, { apply: 'a' }),
      post(`/api/users/${userId}/tags`, { apply: ['same'], remove: ['same'] }),
      post(`/api/users/${userId}/tags`, { apply: ['x'.repeat(256)] }),
      post('/api/auth/verify', { email: 'not-an-email', password: 'x' }),
      post('/api/auth/verify', { email: 'existing@example.com', password: '' }),
      post('/api/auth/verify', { email: 'existing@example.com', password: 'x', extra: 1 }),
    ];
    for (const { path, init } of cases) await expectError(path, init, 400, 'invalid_request');

    // A "__proto__" field name is dropped by validation (no prototype pollution, nothing stored).
    const before = await counts();
    const res = await send(`/api/users/${userId}`, { method: 'PATCH', headers: jsonHeaders, body: '{"fields":{"__proto__":{"polluted":"x"}}}' });
    expect([200, 400]).toContain(res.status);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await counts()).toEqual(before);
  });

  it('answers 400 or an empty result — never 500, never "everything" — to injection strings in every query parameter', async () => {
    const endpoints: Record<string, { params: string[]; list: string }> = {
      '/api/users': { params: ['email', 'contact_id', 'tag', 'limit', 'after'], list: 'users' },
      '/api/log': { params: ['level', 'contact_id', 'user_id', 'limit', 'before'], list: 'entries' },
      '/api/queue': { params: ['state', 'limit'], list: 'jobs' },
    };
    for (const [path, { params, list }] of Object.entries(endpoints)) {
      for (const param of [...params, 'unknown_param']) {
        for (const value of INJECTIONS) {
          const before = await counts();
          const res = await send(`${path}?${new URLSearchParams({ [param]: value })}`, { headers: auth });
          const what = `${path}?${param}=${JSON.stringify(value.slice(0, 40))}`;
          const body = (await res.json()) as Record<string, unknown>;
          if (res.status === 400) expect(body, what).toEqual({ error: { code: 'invalid_request', message: expect.any(String) } });
          else {
            expect(res.status, what).toBe(200);
            // A value that is valid syntax matched nothing: the log never has such a contact, no user such a tag.
            if (param !== 'limit') expect(body[list], what).toEqual([]);
          }
          expect(await counts(), what).toEqual(before);
        }
      }
    }
    // Junk in a webhook's other form fields is kept (escaped, redacted) with the request's shape: never a 500.
    const junk = new URLSearchParams({ wpf_action: 'update', access_key: ACCESS_KEY, contact_id: '1', note: 'a\u0000b', html: '<script>alert(1)</script>', 'contact[email]': "x' OR 1=1" });
    expect((await send('/', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: junk.toString() })).status).toBe(200);
    // A parameter given twice is refused, not silently picked.
    await expectError('/api/users?email=a@example.com&email=b@example.com', { headers: auth }, 400, 'invalid_request');
    // Injection in the webhook's parameters: refused, or — when the value is harmless by the
    // allow-list (a contact id of digits, a role of letters) — queued with exactly that value.
    for (const value of INJECTIONS) {
      for (const param of ['wpf_action', 'contact_id', 'role', 'send_notification']) {
        const before = await counts();
        const res = await send(hook({ wpf_action: 'update', contact_id: '1', [param]: value }));
        const what = `webhook ${param}=${JSON.stringify(value.slice(0, 40))}`;
        expect([200, 400], what).toContain(res.status);
        if (res.status === 400) expect(await counts(), what).toEqual(before);
      }
    }
    const { db } = h.service.engine;
    const jobs = await db.selectFrom('jobs').select(['contact_id', 'role', 'action']).execute();
    for (const job of jobs) {
      expect(job.contact_id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.@+:-]{0,127}$/);
      expect(['update', 'add', 'update_tags']).toContain(job.action);
      if (job.role !== null) expect(h.service.engine.roles.roles).toContain(job.role);
    }
    const inbox = await db.selectFrom('inbox').select(['contact_id', 'action']).execute();
    for (const row of inbox) expect(row.contact_id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.@+:-]{0,127}$/);
  });

  it('refuses huge, negative and non-numeric ids with 400, unknown ones with 404', async () => {
    for (const id of ['99999999999999999999', '9007199254740993', '9007199254740991', '2147483648', '1e309', '0', '-1', '1.5', 'abc', '1;DROP TABLE users', '%3Cscript%3E', 'NaN', 'Infinity']) {
      await expectError(`/api/users/${id}`, { headers: auth }, 400, 'invalid_request');
      await expectError(`/api/users/${id}`, { method: 'PATCH', headers: jsonHeaders, body: JSON.stringify({ fields: { first_name: 'x' } }) }, 400, 'invalid_request');
      await expectError(`/api/users/${id}/tags`, { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ apply: ['x'] }) }, 400, 'invalid_request');
      await expectError(`/api/queue/dead/${id}/replay`, { method: 'POST', headers: auth }, 400, 'invalid_request');
    }
    await expectError('/api/users/2147483647', { headers: auth }, 404, 'not_found');
    await expectError('/api/users/2147483647', { method: 'PATCH', headers: jsonHeaders, body: JSON.stringify({ fields: { first_name: 'x' } }) }, 404, 'not_found');
    await expectError('/api/users/2147483647/tags', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ apply: ['x'] }) }, 404, 'not_found');
    await expectError('/api/queue/dead/2147483647/replay', { method: 'POST', headers: auth }, 404, 'not_found');
    await expectError('/no/such/route', {}, 404, 'not_found');
    await expectError('/api/users/1/../../etc/passwd', { headers: auth }, 404, 'not_found');
  });
});

describe('afterwards', () => {
  it('still answers, the known user is untouched, and no secret was logged', async () => {
    const health = await send('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const user = (await h.api('GET', `/api/users/${userId}`)).body;
    expect(user).toMatchObject({ email: 'existing@example.com', contactId, tags: ['t'], role: 'subscriber', pendingOperations: [] });
    expect((await h.api('GET', '/api/users')).body.users).toHaveLength(1);
    const log = JSON.stringify((await h.api('GET', '/api/log?limit=1000')).body);
    expect(log).not.toContain(ACCESS_KEY);
    expect(log).not.toContain(API_TOKEN);
    // A valid webhook still goes through.
    expect((await h.webhook({ wpf_action: 'update', contact_id: contactId })).status).toBe(200);
  });
});
