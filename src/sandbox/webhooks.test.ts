import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from './index.js';
import { notificationUrl } from './notification.js';
import { SandboxWebhooks } from './webhooks.js';

/** A real HTTP receiver standing in for crmsync's webhook endpoint. */
interface Received {
  url: string;
  contentType: string | undefined;
  form: Record<string, string>;
}
let receiver: Server;
let received: Received[];
let failNext: number;
let hookUrl: string;
let sb: Sandbox;

beforeEach(async () => {
  received = [];
  failNext = 0;
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end();
        return;
      }
      received.push({ url: req.url ?? '', contentType: req.headers['content-type'], form: Object.fromEntries(new URLSearchParams(body)) });
      res.writeHead(200).end('Success');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/?wpf_action=update&access_key=secret-key`;
});

afterEach(async () => {
  await sb?.close();
  await new Promise((resolve) => receiver.close(resolve));
});

const api = (method: string, path: string, body?: unknown) =>
  fetch(sb.url + path, {
    method,
    headers: { authorization: `Bearer ${sb.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('notificationUrl', () => {
  it.each([
    ['http://h/?wpf_action=update&access_key=k', 'http://h/?wpf_action=update&access_key=k&contact_id=7'],
    ['http://h/hook', 'http://h/hook?contact_id=7'],
    ['http://h/hook?', 'http://h/hook?contact_id=7'],
    ['http://h/hook?a=1&', 'http://h/hook?a=1&contact_id=7'],
    ['http://h/hook?a=1#top', 'http://h/hook?a=1&contact_id=7#top'],
  ])('%s', (url, expected) => expect(notificationUrl(url, '7')).toBe(expected));
});

describe('outgoing webhooks', () => {
  it('POSTs an ActiveCampaign-shaped form to the webhook URL with contact_id, for API and user changes', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl });
    const res = await api('POST', '/api/contacts/1/tags', { apply: ['zz-new'] });
    expect(res.status).toBe(200);
    sb.state.editAsUser('1', { fields: { first_name: 'Augusta' } });
    await sb.webhooks.idle();

    expect(received).toHaveLength(2);
    expect(received[0]!.url).toBe('/?wpf_action=update&access_key=secret-key&contact_id=1');
    expect(received[0]!.contentType).toBe('application/x-www-form-urlencoded');
    expect(received[0]!.form).toMatchObject({
      type: 'update',
      'contact[id]': '1',
      'contact[email]': 'ada@example.com',
      'contact[first_name]': 'Ada',
      'contact[last_name]': 'Lovelace',
      'contact[tags]': 'customer, newsletter, zz-new',
      initiated_by: 'api',
    });
    expect(received[1]!.form).toMatchObject({ 'contact[first_name]': 'Augusta', initiated_by: 'admin' });
    expect(sb.stats()).toMatchObject({ webhooksSent: 2, webhooksHeld: 0, webhooksFailed: 0 });
  });

  it('does not echo API changes when echoApiChanges is false, but still sends CRM-side changes', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl, echoApiChanges: false });
    await api('PATCH', '/api/contacts/2', { fields: { phone: '555' } });
    sb.state.editAsUser('2', { applyTags: ['from-crm'] });
    sb.state.createContact({ email: 'made-in-crm@example.com' });
    await sb.webhooks.idle();
    expect(received.map((r) => r.form['contact[email]'])).toEqual(['grace@example.com', 'made-in-crm@example.com']);
  });

  it('sends nothing for a change that changes nothing, nor for the seed', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl });
    await api('POST', '/api/contacts/1/tags', { apply: ['customer'] });
    await sb.webhooks.idle();
    expect(received).toHaveLength(0);
  });

  it('holds, then releases in order, each duplicated', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl });
    sb.webhooks.hold(true);
    sb.webhooks.setDuplicate(2);
    sb.state.editAsUser('1', { applyTags: ['a'] });
    sb.state.editAsUser('3', { applyTags: ['b'] });
    sb.state.editAsUser('1', { applyTags: ['c'] });
    await sb.webhooks.idle();
    expect(received).toHaveLength(0);
    expect(sb.webhooks.held()).toEqual([
      { contactId: '1', version: 2 },
      { contactId: '3', version: 2 },
      { contactId: '1', version: 3 },
    ]);
    expect(sb.stats().webhooksHeld).toBe(3);

    expect(await sb.webhooks.release()).toBe(3);
    expect(received.map((r) => r.url.split('contact_id=')[1])).toEqual(['1', '1', '3', '3', '1', '1']);
    // each notification carries the contact as it was at that change
    expect(received.map((r) => r.form['contact[tags]'])).toEqual([
      'a, customer, newsletter',
      'a, customer, newsletter',
      'b',
      'b',
      'a, c, customer, newsletter',
      'a, c, customer, newsletter',
    ]);
    expect(sb.stats()).toMatchObject({ webhooksSent: 6, webhooksHeld: 0 });
  });

  it('has the same controls over HTTP', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0 });
    const set = await api('POST', '/_sandbox/webhooks', { hold: true, duplicate: 3, delayMs: 1, url: hookUrl });
    expect(set.status).toBe(200);
    sb.state.editAsUser('2', { applyTags: ['x'] });
    expect(await (await api('POST', '/_sandbox/webhooks', {})).json()).toEqual({ held: [{ contactId: '2', version: 2 }] });
    const release = await api('POST', '/_sandbox/webhooks/release');
    expect(await release.json()).toEqual({ released: 1 });
    expect(received).toHaveLength(3);
    expect((await api('POST', '/_sandbox/webhooks', { duplicate: 0 })).status).toBe(400);
    expect((await api('POST', '/_sandbox/webhooks', { hold: 'yes' })).status).toBe(400);
  });

  it('hold(false) sends what was held', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl });
    sb.webhooks.hold(true);
    sb.state.editAsUser('1', { applyTags: ['a'] });
    sb.webhooks.hold(false);
    await sb.webhooks.idle();
    expect(received).toHaveLength(1);
  });

  it('delays each send by delayMs', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl });
    sb.webhooks.setDelay(60);
    const started = performance.now();
    sb.state.editAsUser('1', { applyTags: ['a'] });
    await sb.webhooks.idle();
    expect(received).toHaveLength(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('retries a failed send, then counts it as failed and goes on', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl });
    failNext = 1;
    sb.state.editAsUser('1', { applyTags: ['retried'] });
    await sb.webhooks.idle();
    expect(received).toHaveLength(1);
    expect(sb.stats()).toMatchObject({ webhooksSent: 1, webhooksFailed: 0 });

    failNext = 100;
    sb.state.editAsUser('1', { applyTags: ['lost'] });
    await sb.webhooks.idle();
    expect(sb.stats()).toMatchObject({ webhooksSent: 1, webhooksFailed: 1 });

    failNext = 0;
    sb.webhooks.setUrl('http://127.0.0.1:1/?wpf_action=update'); // nothing listens there
    sb.state.editAsUser('1', { applyTags: ['unreachable'] });
    await sb.webhooks.idle();
    expect(sb.stats().webhooksFailed).toBe(2);
  });

  it('sends a webhook for changes made on the HTML page', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, webhookUrl: hookUrl, echoApiChanges: false });
    const res = await fetch(`${sb.url}/ui/contacts/3/tags/apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'tag=from-page',
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    await sb.webhooks.idle();
    expect(received).toHaveLength(1);
    expect(received[0]!.form['contact[tags]']).toBe('from-page');
  });
});

describe('SandboxWebhooks', () => {
  it('never logs the webhook URL (it carries the access key), and refuses a bad URL without echoing it', async () => {
    sb = await startSandbox({ port: 0, seed: false });
    const logged: string[] = [];
    const hooks = new SandboxWebhooks({ url: 'http://127.0.0.1:1/?access_key=top-secret-key', echoApiChanges: true, attempts: 2, backoffMs: 1, log: (m) => logged.push(m) });
    hooks.notify({ id: '1', email: 'a@example.com', fields: {}, tags: [], version: 1, updatedAt: '' }, 'user');
    await hooks.idle();
    expect(hooks.stats().webhooksFailed).toBe(1);
    expect(logged).toHaveLength(1);
    expect(logged.join()).not.toContain('top-secret-key');
    expect(() => hooks.setUrl('not a url?access_key=top-secret-key')).toThrow(/^webhookUrl is not a valid URL$/);
    await hooks.close();
  });
});
