import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from './index.js';

let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ port: 0, rateLimit: 0 });
});
afterAll(() => sb.close());

const page = async () => (await fetch(`${sb.url}/`)).text();
const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(sb.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });

describe('sandbox page', () => {
  it('lists contacts with their tags and fields, without auth, scripts or CDNs, and never shows the API key', async () => {
    const res = await fetch(`${sb.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('ada@example.com');
    expect(html).toContain('Lovelace');
    expect(html).toContain('newsletter');
    expect(html).not.toMatch(/<script|https?:\/\//i);
    expect(html).not.toContain(sb.apiKey);
  });

  it('escapes everything that comes from the data', async () => {
    const evil = `<script>alert("x")</script>`;
    const c = sb.state.createContact({ email: 'evil@example.com', fields: { first_name: evil, last_name: `"><img src=x onerror=1>` }, tags: [`<b>tag</b>`] });
    sb.state.editAsUser(c.id, { fields: { ['x_<i>']: 'v' } as Record<string, string> });
    const html = await page();
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>tag');
    expect(html).not.toContain('<i>');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;tag&lt;/b&gt;');
  });

  it('creates a contact, adds and removes a tag, edits a field, then redirects back', async () => {
    const created = await post('/ui/contacts', { email: 'ui@example.com', first_name: 'Uma', last_name: '' });
    expect(created.status).toBe(303);
    expect(created.headers.get('location')).toBe('/');
    const contact = sb.state.findByEmail('ui@example.com')!;
    expect(contact.fields).toMatchObject({ first_name: 'Uma', last_name: null });

    await post(`/ui/contacts/${contact.id}/tags/apply`, { tag: 'vip' });
    await post(`/ui/contacts/${contact.id}/fields`, { key: 'phone', value: '+1 555' });
    expect(sb.state.get(contact.id)).toMatchObject({ tags: ['vip'], fields: { phone: '+1 555' }, version: 3 });
    await post(`/ui/contacts/${contact.id}/tags/remove`, { tag: 'vip' });
    await post(`/ui/contacts/${contact.id}/fields`, { key: 'phone', value: '' });
    expect(sb.state.get(contact.id)).toMatchObject({ tags: [], fields: { phone: null }, version: 5 });
  });

  it('shows a refused form as a notice and changes nothing', async () => {
    const before = JSON.stringify(sb.state.list());
    expect((await post('/ui/contacts', { email: 'ada@example.com' })).status).toBe(303);
    expect(await page()).toContain('a contact with e-mail ada@example.com exists');
    await post('/ui/contacts/1/fields', { key: 'bad key', value: 'x' });
    expect(await page()).toMatch(/invalid field/);
    expect(JSON.stringify(sb.state.list())).toBe(before);
  });

  it('refuses form posts from another site', async () => {
    const before = JSON.stringify(sb.state.list());
    const res = await post('/ui/contacts/1/tags/apply', { tag: 'csrf' }, { origin: 'http://evil.example' });
    expect(res.status).toBe(403);
    expect((await post('/ui/contacts/1/tags/apply', { tag: 'csrf' }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect(JSON.stringify(sb.state.list())).toBe(before);
  });
});
