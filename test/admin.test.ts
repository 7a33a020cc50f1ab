import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, eventually, startHarness, type Harness } from './support/harness.js';

/**
 * The admin UI in real Chromium (Debian's package) against the real service and sandbox CRM.
 * Without /usr/bin/chromium the suite is skipped and says why; on CI (CI set) it fails instead.
 */
const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const title = available ? 'admin UI in Chromium' : `admin UI in Chromium (SKIPPED: ${CHROMIUM} not found; apt-get install chromium)`;

describe.skipIf(!available && !process.env.CI)(title, { timeout: 90_000 }, () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

  beforeAll(async () => {
    if (!available) throw new Error(`CI is set but ${CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)`);
    h = await startHarness();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking'] });
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.service.url });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  const url = (path: string) => h.service.url + path;

  it('signs in with the keyboard only: a wrong token is refused with a message, the right one opens the dashboard', async () => {
    await page.goto(url('/admin/queue'));
    expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
    // From the top of the page, Tab reaches the field; Enter submits.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    let reached = false;
    for (let i = 0; i < 5 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'credential');
    }
    expect(reached).toBe(true);
    await page.keyboard.type('not-the-token-0123456789');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#sign-in-problem');
    expect(await page.textContent('[role=alert]')).toContain('not a valid API token');
    expect(await page.content()).not.toContain('not-the-token-0123456789');
    await page.focus('#credential');
    await page.keyboard.type(API_TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/queue$/);
    expect(await page.textContent('h1')).toBe('Queue and dead letters');
    // The focus is visible (our outline), not suppressed.
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).not.toBe('none');
  });

  it('shows a webhook sent over HTTP on the live dashboard and in the log; hostile CRM data stays text', async () => {
    await page.goto(url('/admin/'));
    const before = Number(await page.textContent('[data-stat=received]'));
    const contact = h.sandbox.state.createContact({ email: 'hostile@example.com', fields: { first_name: HOSTILE }, tags: ['vip'] }, 'seed');
    expect((await h.webhook({ wpf_action: 'add', contact_id: contact.id })).status).toBe(200);
    // No reload: the page polls its JSON every 3 s.
    await page.waitForFunction((n) => Number(document.querySelector('[data-stat=received]')?.textContent) === n + 1, before, { timeout: 30_000 });
    expect(await page.locator('[data-chart] svg polyline[data-series=received]').count()).toBe(1);

    await page.goto(url(`/admin/log?source=webhook&contact_id=${contact.id}`));
    const row = page.locator('tbody tr', { hasText: `webhook add for contact #${contact.id} received` });
    expect(await row.count()).toBe(1);
    expect(await row.locator('.level-http').textContent()).toBe('http');
    await row.locator('summary').click();
    const context = await row.locator('pre').textContent();
    expect(context).toContain('"wpf_action": "add"');
    expect(context).not.toContain('test-access-key');

    const user = await eventually(async () => (await h.api('GET', `/api/users?contact_id=${contact.id}`)).body.users[0], 30_000, 'user created by the add webhook');
    await page.goto(url(`/admin/users/${user.id}`));
    expect(await page.locator('td', { hasText: '<script>' }).textContent()).toBe(HOSTILE);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it("shows a user's webhook, reconcile and push on one timeline, and queues a reconcile from the button", async () => {
    const contact = h.sandbox.state.createContact({ email: 'timeline@example.com', tags: ['lead'] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: contact.id });
    const user = await eventually(async () => (await h.api('GET', `/api/users?contact_id=${contact.id}`)).body.users[0], 30_000, 'user created');
    expect((await h.api('POST', `/api/users/${user.id}/tags`, { apply: ['from-app'] })).status).toBe(200);
    await eventually(() => h.sandbox.state.get(contact.id)?.tags.includes('from-app'), 30_000, 'push reached the CRM');

    await page.goto(url('/admin/users?email=timeline%40example.com'));
    await page.click(`a[href="/admin/users/${user.id}"] >> nth=0`);
    await eventually(async () => {
      await page.reload();
      return (await page.locator('.timeline li[data-kind=push]').count()) > 0;
    }, 30_000, 'push on the timeline');
    const kinds = await page.locator('.timeline li').evaluateAll((items) => items.map((li) => li.getAttribute('data-kind')));
    expect(kinds).toContain('webhook');
    expect(kinds).toContain('reconcile');
    // Newest first: the push came after the webhook that created the user.
    expect(kinds.indexOf('push')).toBeLessThan(kinds.lastIndexOf('webhook'));

    await page.click('button:has-text("Reconcile now")');
    expect(await page.textContent('[role=status]')).toContain('reconcile of this contact is queued');
    await eventually(async () => (await h.api('GET', `/api/log?contact_id=${contact.id}`)).body.entries.some((e: { message: string }) => e.message.includes('requested from the admin UI')), 5000, 'request logged');
  });

  it('replays a dead letter from the queue page', async () => {
    const contact = h.sandbox.state.createContact({ email: 'dead@example.com', tags: ['x'] }, 'seed');
    const { db, clock } = h.service.engine;
    const now = clock.now();
    const [row] = await db
      .insertInto('jobs')
      .values({ key: `c:${contact.id}`, action: 'add', contact_id: contact.id, user_id: null, role: null, send_notification: 0, state: 'dead', attempts: 8, run_at: now, locked_by: null, locked_at: null, last_error: 'CRM answered 503 eight times', webhooks: 1, first_seen_at: now, created_at: now, updated_at: now })
      .returning('id')
      .execute();
    const id = Number(row!.id);
    await page.goto(url('/admin/queue?state=dead'));
    await page.click(`a[href="/admin/queue/${id}"]`);
    expect(await page.textContent('dd pre')).toBe('CRM answered 503 eight times');
    await page.click('button:has-text("Replay")');
    expect(await page.textContent('[role=status]')).toContain('Replayed');
    // Replayed, it runs: the contact becomes a user.
    await eventually(async () => (await h.api('GET', `/api/users?contact_id=${contact.id}`)).body.users.length === 1, 30_000, 'replayed job ran');
    expect((await h.api('GET', '/api/queue/dead')).body.jobs).toHaveLength(0);
  });

  it('builds a webhook URL that the service accepts, and copies it', async () => {
    await page.goto(url('/admin/setup'));
    await page.selectOption('#b-action', 'test');
    await page.click('button:has-text("Build URL")');
    const built = await page.inputValue('#webhook-url');
    expect(new URL(built).searchParams.get('wpf_action')).toBe('test');
    const res = await fetch(built);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('success');
    await page.click('button[data-copy=webhook-url]');
    await page.waitForFunction(() => document.querySelector('[data-copy]')?.textContent === 'Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(built);
  });

  it('is usable 375 px wide: the navigation wraps, nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    for (const path of ['/admin/', '/admin/log', '/admin/queue', '/admin/setup']) {
      await page.goto(url(path));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    await page.setViewportSize({ width: 1100, height: 900 });
  });
});
