import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from './index.js';

let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ port: 0, rateLimit: 0, seed: true });
});
afterAll(() => sb.close());

async function call(method: string, path: string, body?: unknown, key: string | null = sb.apiKey) {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(sb.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

describe('sandbox API: auth', () => {
  it.each([
    ['GET', '/api/contacts/1'],
    ['GET', '/api/tags'],
    ['GET', '/_sandbox/stats'],
    ['POST', '/_sandbox/webhooks/release'],
  ])('%s %s without the key is 401', async (method, path) => {
    for (const key of [null, 'wrong-key']) {
      const res = await call(method, path, undefined, key);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    }
  });

  it('never puts the key in an error message', async () => {
    const res = await call('GET', '/api/contacts/1', undefined, 'wrong-key');
    expect(JSON.stringify(res.body)).not.toContain(sb.apiKey);
  });
});

describe('sandbox API: contacts', () => {
  it('seeds a few demo contacts with names and tags', () => {
    const contacts = sb.state.list();
    expect(contacts.length).toBeGreaterThanOrEqual(3);
    expect(contacts.length).toBeLessThanOrEqual(5);
    expect(contacts.every((c) => c.fields.first_name)).toBe(true);
    expect(contacts.some((c) => c.tags.length > 0)).toBe(true);
  });

  it('creates with 201, upserts by e-mail (case-insensitive) with 200, and bumps the version', async () => {
    const created = await call('POST', '/api/contacts', { email: 'New.Person@example.com', fields: { first_name: 'New', shoe_size: '42' } });
    expect(created.status).toBe(201);
    const c = created.body.contact;
    expect(c).toMatchObject({ id: expect.stringMatching(/^\d+$/), email: 'New.Person@example.com', tags: [], version: 1 });
    expect(c.fields).toEqual({ first_name: 'New', last_name: null, phone: null, shoe_size: '42' });
    expect(Date.parse(c.updatedAt)).not.toBeNaN();

    const again = await call('POST', '/api/contacts', { email: 'new.person@EXAMPLE.com', fields: { last_name: 'Person' } });
    expect(again.status).toBe(200);
    expect(again.body.contact).toMatchObject({ id: c.id, email: 'New.Person@example.com', version: 2 });
    expect(again.body.contact.fields).toMatchObject({ first_name: 'New', last_name: 'Person' });

    const same = await call('POST', '/api/contacts', { email: 'new.person@example.com', fields: { last_name: 'Person' } });
    expect(same.body.contact.version).toBe(2); // nothing changed, no new version

    const got = await call('GET', `/api/contacts/${c.id}`);
    expect(got.body.contact).toEqual(again.body.contact);
    expect(sb.state.history(c.id).map((v) => v.version)).toEqual([1, 2]);
  });

  it('lists contacts in ID order, page by page, filtered by tag and by modification time', async () => {
    const all = await call('GET', '/api/contacts?limit=3');
    expect(all.status).toBe(200);
    const total = sb.state.list().length;
    expect(all.body).toMatchObject({ total, next: total > 3 ? all.body.contacts[2].id : null });
    expect(all.body.contacts.map((c: { id: string }) => Number(c.id))).toEqual([1, 2, 3]);
    const rest = await call('GET', `/api/contacts?limit=100&after=${all.body.next}`);
    expect(rest.body.contacts.map((c: { id: string }) => Number(c.id))[0]).toBe(4);
    expect(rest.body.next).toBeNull();
    const vip = await call('GET', '/api/contacts?tag=vip');
    expect(vip.body.contacts.every((c: { tags: string[] }) => c.tags.includes('vip'))).toBe(true);
    expect(vip.body.total).toBe(sb.state.list().filter((c) => c.tags.includes('vip')).length);
    // A contact changed now is listed as changed after a moment ago; the others were changed earlier.
    const since = new Date(Date.now() - 1).toISOString();
    const { body } = await call('POST', '/api/contacts', { email: 'changed@example.com' });
    const changed = await call('GET', `/api/contacts?updated_after=${encodeURIComponent(since)}`);
    expect(changed.body.contacts.map((c: { id: string }) => c.id)).toContain(body.contact.id);
    const future = await call('GET', `/api/contacts?updated_after=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body).toEqual({ contacts: [], total: 0, next: null });
  });

  it('patches fields, and clears one with null', async () => {
    const { body } = await call('POST', '/api/contacts', { email: 'patch@example.com', fields: { phone: '123' } });
    const id = body.contact.id;
    const patched = await call('PATCH', `/api/contacts/${id}`, { fields: { first_name: 'Pat', phone: null } });
    expect(patched.status).toBe(200);
    expect(patched.body.contact).toMatchObject({ version: 2, fields: { first_name: 'Pat', last_name: null, phone: null } });
  });

  it('applies and removes tags as deltas, idempotently, sorted', async () => {
    const { body } = await call('POST', '/api/contacts', { email: 'tags@example.com' });
    const id = body.contact.id;
    const a = await call('POST', `/api/contacts/${id}/tags`, { apply: ['zeta', ' alpha ', 'mid'] });
    expect(a.body.contact).toMatchObject({ tags: ['alpha', 'mid', 'zeta'], version: 2 });
    const b = await call('POST', `/api/contacts/${id}/tags`, { apply: ['alpha'] });
    expect(b.body.contact).toMatchObject({ tags: ['alpha', 'mid', 'zeta'], version: 2 });
    const c = await call('POST', `/api/contacts/${id}/tags`, { remove: ['mid', 'never-had'], apply: ['beta'] });
    expect(c.body.contact).toMatchObject({ tags: ['alpha', 'beta', 'zeta'], version: 3 });
    const tags = await call('GET', '/api/tags');
    expect(tags.body.tags).toEqual(expect.arrayContaining(['alpha', 'beta', 'mid', 'zeta'])); // every tag ever used
    expect(tags.body.tags).toEqual([...tags.body.tags].sort());
  });

  it('loads in batches: unknown ids absent, at most 100 ids', async () => {
    const res = await call('GET', '/api/contacts?ids=2,1,999,2');
    expect(res.status).toBe(200);
    expect(res.body.contacts.map((c: { id: string }) => c.id)).toEqual(['2', '1']);
    const ok = await call('GET', `/api/contacts?ids=${Array.from({ length: 100 }, (_, i) => i + 1).join(',')}`);
    expect(ok.status).toBe(200);
    const tooMany = await call('GET', `/api/contacts?ids=${Array.from({ length: 101 }, (_, i) => i + 1).join(',')}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe('bad_request');
  });

  it('finds by e-mail: 0 or 1 contacts', async () => {
    const one = await call('GET', '/api/contacts?email=ADA@example.com');
    expect(one.body.contacts).toHaveLength(1);
    expect(one.body.contacts[0].email).toBe('ada@example.com');
    const none = await call('GET', '/api/contacts?email=nobody@example.com');
    expect(none.body).toEqual({ contacts: [] });
  });

  it('lists fields, standard ones first, custom ones once used', async () => {
    const res = await call('GET', '/api/fields');
    expect(res.body.fields.slice(0, 3)).toEqual([
      { id: 'first_name', name: 'First name' },
      { id: 'last_name', name: 'Last name' },
      { id: 'phone', name: 'Phone' },
    ]);
    expect(res.body.fields).toContainEqual({ id: 'shoe_size', name: 'Shoe size' });
  });
});

describe('sandbox API: errors', () => {
  it('answers 404 for an unknown contact or route', async () => {
    expect((await call('GET', '/api/contacts/999')).body.error.code).toBe('not_found');
    expect((await call('PATCH', '/api/contacts/999', { fields: { first_name: 'x' } })).status).toBe(404);
    expect((await call('POST', '/api/contacts/999/tags', { apply: ['x'] })).status).toBe(404);
    expect((await call('GET', '/api/nothing')).status).toBe(404);
  });

  it.each([
    ['POST', '/api/contacts', { fields: {} }],
    ['POST', '/api/contacts', { email: 'not-an-email' }],
    ['POST', '/api/contacts', { email: 'a@example.com', tags: ['x'] }],
    ['POST', '/api/contacts', { email: 'a@example.com', fields: { first_name: 3 } }],
    ['POST', '/api/contacts', { email: 'a@example.com', fields: { email: 'b@example.com' } }],
    ['POST', '/api/contacts', { email: 'a@example.com', fields: { 'bad key': 'x' } }],
    ['PATCH', '/api/contacts/1', { first_name: 'x' }],
    ['POST', '/api/contacts/1/tags', { apply: 'x' }],
    ['POST', '/api/contacts/1/tags', { apply: ['  '] }],
    ['POST', '/api/contacts/1/tags', { set: ['x'] }],
    ['GET', '/api/contacts?limit=0', undefined],
    ['GET', '/api/contacts?limit=101', undefined],
    ['GET', '/api/contacts?updated_after=yesterday', undefined],
    ['GET', '/api/contacts?ids=1&tag=x', undefined],
    ['GET', '/api/contacts?after=abc', undefined],
    ['GET', '/api/contacts?ids=1&email=a@example.com', undefined],
    ['GET', '/api/contacts/abc', undefined],
  ])('%s %s %j is a 400 that changes nothing', async (method, path, body) => {
    const before = JSON.stringify(sb.state.list());
    const res = await call(method, path, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'bad_request', message: expect.any(String) });
    expect(JSON.stringify(sb.state.list())).toBe(before);
  });

  it('refuses a body that is not JSON', async () => {
    const res = await fetch(`${sb.url}/api/contacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sb.apiKey}`, 'content-type': 'application/json' },
      body: '{"email":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('bad_request');
  });
});
