import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from './index.js';

let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ port: 0, rateLimit: 0 });
});
afterAll(() => sb.close());

const get = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(sb.url + path, { ...init, headers: { authorization: `Bearer ${sb.apiKey}`, 'content-type': 'application/json', ...init.headers } });
  return { status: res.status, body: (await res.json()) as any };
};

describe('stale reads', () => {
  it('serves the previous version for the next n reads, single or batch, then the current one', async () => {
    sb.state.editAsUser('1', { applyTags: ['fresh'] }); // version 2
    sb.state.serveStale('1', { reads: 2 });
    const first = await get('/api/contacts/1');
    expect(first.body.contact).toMatchObject({ version: 1, tags: ['customer', 'newsletter'] });
    const batch = await get('/api/contacts?ids=1,2');
    expect(batch.body.contacts[0]).toMatchObject({ id: '1', version: 1 });
    expect(batch.body.contacts[1]).toMatchObject({ id: '2', version: 1 });
    const after = await get('/api/contacts/1');
    expect(after.body.contact).toMatchObject({ version: 2, tags: ['customer', 'fresh', 'newsletter'] });
    expect(sb.state.get('1')!.version).toBe(2); // in-process reads see the truth
  });

  it('serves a chosen version, also to e-mail look-ups, and is set over HTTP', async () => {
    sb.state.editAsUser('2', { fields: { phone: '1' } });
    sb.state.editAsUser('2', { fields: { phone: '2' } });
    const set = await get('/_sandbox/stale', { method: 'POST', body: JSON.stringify({ contactId: '2', reads: 1, version: 2 }) });
    expect(set.status).toBe(200);
    const stale = await get('/api/contacts?email=grace@example.com');
    expect(stale.body.contacts[0]).toMatchObject({ version: 2, fields: { phone: '1' } });
    expect((await get('/api/contacts/2')).body.contact).toMatchObject({ version: 3, fields: { phone: '2' } });
  });

  it('refuses a version the contact never had, or an unknown contact', async () => {
    expect(() => sb.state.serveStale('3', { reads: 1 })).toThrow(/versions 1 to 1/); // no version before the first
    expect((await get('/_sandbox/stale', { method: 'POST', body: JSON.stringify({ contactId: '1', reads: 1, version: 9 }) })).status).toBe(400);
    expect((await get('/_sandbox/stale', { method: 'POST', body: JSON.stringify({ contactId: '999', reads: 1 }) })).status).toBe(404);
    expect((await get('/_sandbox/stale', { method: 'POST', body: JSON.stringify({ contactId: '1' }) })).status).toBe(400);
  });
});
