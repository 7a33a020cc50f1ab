/**
 * Screenshots of the admin UI for docs/admin/*.png: a real service with its sandbox CRM on a
 * fresh SQLite file, seeded through HTTP the way a CRM and an app would, then photographed in
 * Debian's Chromium. Run: npm run screenshots
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';

const OUT = new URL('../docs/admin/', import.meta.url).pathname;
const ACCESS_KEY = 'demo-access-key-0123456789';
const API_TOKEN = 'demo-api-token-0123456789';

async function until<T>(check: () => Promise<T | undefined | null | false>, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const dir = mkdtempSync(join(tmpdir(), 'crmsync-screens-'));
const service = await startService(
  loadConfig({ PORT: '0', CRMSYNC_DATABASE_URL: `sqlite:${join(dir, 'crmsync.sqlite')}`, CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_API_TOKEN: API_TOKEN, CRMSYNC_CRM_RATE_LIMIT: '1000' }),
  { logger: pino({ level: 'silent' }), sandboxPort: 0, sandboxRateLimit: 0 },
);
const base = service.url;
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${API_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return (await res.json()) as any;
};
const webhook = (params: Record<string, string>) => fetch(`${base}/?${new URLSearchParams({ access_key: ACCESS_KEY, ...params })}`).then((r) => r.text());

try {
  const sandbox = service.sandbox!;
  const people = [
    ['ada.lovelace@example.org', 'Ada', 'Lovelace', ['customer', 'course-1']],
    ['grace.hopper@example.org', 'Grace', 'Hopper', ['lead']],
    ['alan.turing@example.org', 'Alan', 'Turing', ['customer', 'newsletter']],
    ['katherine.johnson@example.org', 'Katherine', 'Johnson', ['vip']],
  ] as const;
  const contacts = people.map(([email, first, last, tags]) => sandbox.state.createContact({ email, fields: { first_name: first, last_name: last }, tags: [...tags] }, 'seed'));
  for (const c of contacts) await webhook({ wpf_action: 'add', contact_id: c.id });
  for (let i = 0; i < 6; i++) await webhook({ wpf_action: 'update_tags', contact_id: contacts[i % 2]!.id });
  await webhook({ wpf_action: 'update', contact_id: contacts[0]!.id, access_key: 'wrong-key' });
  const ada = await until(async () => (await api('GET', `/api/users?contact_id=${contacts[0]!.id}`)).users[0], 'Ada as a user');
  await until(async () => (await api('GET', '/api/queue')).counts.pending === 0, 'the queue to drain');
  await api('POST', `/api/users/${ada.id}/tags`, { apply: ['course-2'], remove: ['course-1'] });
  await until(async () => sandbox.state.get(contacts[0]!.id)?.tags.includes('course-2'), 'the push');
  await api('PATCH', `/api/users/${ada.id}`, { fields: { phone: '+44 20 7946 0000' } });
  await api('POST', `/api/users/${ada.id}/grants`, { resource: 'course-2', source: 'purchase', note: 'order 1042' });
  // A dead letter to show on the queue page.
  const { db } = service.engine;
  const now = Date.now();
  await db
    .insertInto('jobs')
    .values({ key: 'c:9041', action: 'update', contact_id: '9041', user_id: null, role: null, send_notification: 0, state: 'dead', attempts: 8, run_at: now, locked_by: null, locked_at: null, last_error: 'CRM answered 404: contact 9041 not found (deleted in the CRM?)', webhooks: 2, first_seen_at: now - 3_600_000, created_at: now - 3_600_000, updated_at: now })
    .execute();

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking'] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 }, deviceScaleFactor: 1 });
  await page.goto(`${base}/admin/sign-in`);
  await page.fill('#credential', API_TOKEN);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/admin\/$/);
  mkdirSync(OUT, { recursive: true });
  const shots: [string, string, (() => Promise<void>)?][] = [
    ['dashboard', '/admin/'],
    ['log', '/admin/log', async () => void (await page.locator('tbody tr details summary').first().click())],
    ['user', `/admin/users/${ada.id}`],
    ['queue', '/admin/queue?state=dead'],
    ['setup', '/admin/setup?action=add&role=customer&send_notification=1'],
  ];
  for (const [name, path, prepare] of shots) {
    await page.goto(base + path);
    await prepare?.();
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: name !== 'log' });
    console.log(`docs/admin/${name}.png`);
  }
  await page.setViewportSize({ width: 375, height: 760 });
  await page.goto(`${base}/admin/`);
  await page.screenshot({ path: join(OUT, 'dashboard-375.png') });
  console.log('docs/admin/dashboard-375.png');
  await browser.close();
} finally {
  await service.stop();
}
