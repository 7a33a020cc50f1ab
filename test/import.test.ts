import { afterEach, describe, expect, it } from 'vitest';
import { ImportRefusedError } from '../src/import/import-role.js';
import { ListingUnsupportedError } from '../src/import/listing.js';
import { runImport, type ImportRequest } from '../src/import/run-import.js';
import { undoImport } from '../src/import/undo-import.js';
import { getImport, listImports, type ImportRun } from '../src/store/imports.js';
import { listUsers, findUser } from '../src/store/users.js';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';
import { startFakeActiveCampaign } from './fakes/activecampaign.js';
import { testDatabase } from './support/database.js';
import { startHarness, type Harness } from './support/harness.js';

/** `crmsync import` against the sandbox CRM, on the real store (SQLite or PostgreSQL). */
let h: Harness;
afterEach(async () => {
  // Stopped once: a later test in this file may not start a harness at all.
  const started = h as Harness | undefined;
  h = undefined as unknown as Harness;
  await started?.stop();
});

const all: ImportRequest = { tag: null, updateExisting: false, role: null, pageSize: 3 };
const users = async () => listUsers(h.service.engine.db, { limit: 1000 });
const emails = async () => (await users()).map((u) => u.email).sort();

/** The seeded four, plus `n` more (every third one tagged vip). */
function addContacts(n: number): void {
  for (let i = 1; i <= n; i++) h.sandbox.state.createContact({ email: `c${i}@example.com`, fields: { first_name: `C${i}` }, tags: i % 3 === 0 ? ['vip', 'lead'] : ['lead'] }, 'seed');
}

describe('import from the sandbox CRM', () => {
  it('imports every contact as a user, page by page, with the CRM tags and fields, and reports progress', async () => {
    h = await startHarness({ workers: false });
    addContacts(6);
    const pages: ImportRun[] = [];
    const run = await runImport(h.service.engine, all, { onPage: (r) => void pages.push(r) });
    expect(run).toMatchObject({ state: 'done', listed: 10, created: 10, updated: 0, skipped: 0, failed: 0, total: 10 });
    // 10 contacts in pages of 3: 3, 6, 9, 10 — each reported with the running totals.
    expect(pages.map((p) => p.listed)).toEqual([3, 6, 9, 10]);
    expect(pages.map((p) => p.created)).toEqual([3, 6, 9, 10]);
    const ada = await findUser(h.service.engine.db, { email: 'ada@example.com' });
    expect(ada).toMatchObject({ contactId: '1', role: 'subscriber', tags: ['customer', 'newsletter'], fields: { first_name: 'Ada', last_name: 'Lovelace' } });
    // In the activity log under source import.
    const log = (await h.api('GET', '/api/log?limit=100')).body.entries as { source: string; message: string }[];
    expect(log.some((e) => e.source === 'import' && /import #\d+ finished: 10 contacts listed, 10 users created/.test(e.message))).toBe(true);
    expect(log.filter((e) => e.source === 'import' && /^created user/.test(e.message))).toHaveLength(10);
  });

  it('--tag imports only the contacts with that tag', async () => {
    h = await startHarness({ workers: false });
    addContacts(6);
    const run = await runImport(h.service.engine, { ...all, tag: 'vip' });
    // katherine (seed) + c3 + c6
    expect(run).toMatchObject({ state: 'done', listed: 3, created: 3, tag: 'vip' });
    expect(await emails()).toEqual(['c3@example.com', 'c6@example.com', 'katherine@example.com']);
  });

  it('leaves existing users alone unless --update-existing, and never duplicates one (found by contact ID or e-mail)', async () => {
    h = await startHarness({ workers: false });
    // Ada exists already (by e-mail, without a contact ID); Grace by contact ID.
    await h.api('POST', '/api/users', { email: 'ada@example.com', fields: { first_name: 'Adda' } });
    await h.webhook({ wpf_action: 'add', contact_id: '2' });
    await h.drain();
    h.sandbox.state.editAsUser('2', { applyTags: ['speaker'] });
    h.sandbox.state.editAsUser('1', { fields: { first_name: 'Ada' } });
    const before = await users();

    const first = await runImport(h.service.engine, all);
    expect(first).toMatchObject({ created: 2, skipped: 2, updated: 0 });
    const grace = (await findUser(h.service.engine.db, { contactId: '2' }))!;
    expect(grace.tags).toEqual(['member']);
    expect(before.find((u) => u.id === grace.id)!.tags).toEqual(['member']);

    const second = await runImport(h.service.engine, { ...all, updateExisting: true });
    expect(second.id).not.toBe(first.id);
    // The two created by the first run and Ada (same e-mail) and Grace now follow the CRM.
    expect(second).toMatchObject({ created: 0, listed: 4 });
    expect(second.updated).toBeGreaterThanOrEqual(1);
    expect((await findUser(h.service.engine.db, { contactId: '2' }))!.tags).toEqual(['member', 'speaker']);
    expect(await emails()).toEqual(['ada@example.com', 'alan@example.com', 'grace@example.com', 'katherine@example.com']);
  });

  it('gives created users the --role asked for, and refuses a privileged or unknown role before doing anything', async () => {
    h = await startHarness({ workers: false });
    await expect(runImport(h.service.engine, { ...all, role: 'administrator' })).rejects.toThrow(ImportRefusedError);
    await expect(runImport(h.service.engine, { ...all, role: 'pharaoh' })).rejects.toThrow(/not one of CRMSYNC_ROLES/);
    expect(await listImports(h.service.engine.db, 10)).toEqual([]);
    expect(await users()).toEqual([]);
    const run = await runImport(h.service.engine, { ...all, role: 'member' });
    expect(run.created).toBe(4);
    expect(new Set((await users()).map((u) => u.role))).toEqual(new Set(['member']));
    // An existing user's role is not the import's to change, even with --update-existing.
    h.sandbox.state.createContact({ email: 'late@example.com' });
    const again = await runImport(h.service.engine, { ...all, role: 'customer', updateExisting: true });
    expect(again).toMatchObject({ created: 1 });
    expect((await users()).map((u) => [u.email, u.role]).sort()).toEqual([
      ['ada@example.com', 'member'],
      ['alan@example.com', 'member'],
      ['grace@example.com', 'member'],
      ['katherine@example.com', 'member'],
      ['late@example.com', 'customer'],
    ]);
  });

  it('a run stopped between pages (Ctrl-C) continues where it stopped on the next run, without duplicates', async () => {
    h = await startHarness({ workers: false });
    addContacts(8); // 12 contacts, pages of 3
    let pages = 0;
    const stopped = await runImport(h.service.engine, all, { onPage: () => void pages++, shouldStop: () => pages === 2 });
    expect(stopped).toMatchObject({ state: 'interrupted', listed: 6, created: 6 });
    expect(await users()).toHaveLength(6);
    let resumedFrom: number | null = null;
    const resumed = await runImport(h.service.engine, all, { onStart: (r, isResume) => void (resumedFrom = isResume ? r.listed : null) });
    expect(resumedFrom).toBe(6);
    expect(resumed).toMatchObject({ id: stopped.id, state: 'done', listed: 12, created: 12, skipped: 0 });
    expect(await users()).toHaveLength(12);
    expect(new Set(await emails()).size).toBe(12);
  });

  it('a run killed mid-way (no clean stop) is continued by the next run; the page in flight is redone, not duplicated', async () => {
    h = await startHarness({ workers: false });
    addContacts(8);
    let pages = 0;
    // The process "dies" right after its second page committed: nothing marks the run stopped.
    await expect(
      runImport(h.service.engine, all, {
        onPage: () => {
          if (++pages === 2) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    const [killed] = await listImports(h.service.engine.db, 1);
    expect(killed).toMatchObject({ state: 'running', listed: 6 });
    const resumed = await runImport(h.service.engine, all);
    expect(resumed).toMatchObject({ id: killed!.id, state: 'done', listed: 12, created: 12 });
    expect(await users()).toHaveLength(12);
  });

  it('a run killed right after its last page committed is done, not started over', async () => {
    h = await startHarness({ workers: false });
    await expect(runImport(h.service.engine, all, { onPage: (r) => { if (r.listed === 4) throw new Error('killed'); } })).rejects.toThrow('killed');
    const [killed] = await listImports(h.service.engine.db, 1);
    expect(killed).toMatchObject({ state: 'done', listed: 4, created: 4, cursor: null });
    const next = await runImport(h.service.engine, all);
    expect(next.id).not.toBe(killed!.id);
    expect(next).toMatchObject({ state: 'done', created: 0, skipped: 4 });
    expect(await users()).toHaveLength(4);
  });

  it('--undo deletes the users it created, restores what it overwrote, and reports what it could not undo', async () => {
    h = await startHarness({ workers: false });
    const db = h.service.engine.db;
    // Grace exists locally; then a CRM user changes her, and that webhook never arrives.
    await h.webhook({ wpf_action: 'add', contact_id: '2' });
    await h.drain();
    const grace = (await findUser(db, { contactId: '2' }))!;
    h.sandbox.state.editAsUser('2', { applyTags: ['speaker'], fields: { last_name: 'Hopper-Murray', first_name: 'Amazing Grace' } });
    const graceBefore = (await findUser(db, { contactId: '2' }))!;

    const run = await runImport(h.service.engine, { ...all, updateExisting: true });
    expect(run).toMatchObject({ created: 3, updated: 1 });
    expect((await findUser(db, { contactId: '2' }))!).toMatchObject({ tags: ['member', 'speaker'], fields: { first_name: 'Amazing Grace', last_name: 'Hopper-Murray' } });

    // Since the import: the app tags Alan (so he is kept), and the CRM's first name of Grace is edited locally.
    const alan = (await findUser(db, { email: 'alan@example.com' }))!;
    expect((await h.api('POST', `/api/users/${alan.id}/tags`, { apply: ['vip-app'] })).status).toBe(200);
    await h.api('PATCH', `/api/users/${grace.id}`, { fields: { first_name: 'Grace H.' } });

    const undo = await undoImport(h.service.engine, run.id);
    expect(undo.deleted).toHaveLength(2);
    expect(await emails()).toEqual(['alan@example.com', 'grace@example.com']);
    expect(undo.notUndone).toEqual([
      { userId: grace.id, reason: 'field first_name changed since the import' },
      { userId: alan.id, reason: 'created by the import but changed since (tags changed; it has local changes not yet confirmed by the CRM); kept' },
    ]);
    expect(undo.restored).toEqual([grace.id]);
    const graceAfter = (await findUser(db, { id: grace.id }))!;
    expect(graceAfter.tags).toEqual(graceBefore.tags);
    expect(graceAfter.fields.last_name).toBe('Hopper');
    expect(graceAfter.fields.first_name).toBe('Grace H.');
    expect(await getImport(db, run.id)).toMatchObject({ state: 'undone' });
    await expect(undoImport(h.service.engine, run.id)).rejects.toThrow(/already undone/);
    await expect(undoImport(h.service.engine, 999)).rejects.toThrow(/no import #999/);
  });
});

describe('import from a CRM that cannot list', () => {
  it('says so in plain words (from its capabilities) and records nothing', async () => {
    h = await startHarness({ workers: false });
    const engine = h.service.engine;
    const unlisted = { ...engine.crm, capabilities: { ...engine.crm.capabilities, listing: undefined } };
    await expect(runImport({ ...engine, crm: unlisted }, all)).rejects.toThrow(new ListingUnsupportedError('sandbox cannot list its contacts through its API, so crmsync cannot import them; users are created as the CRM\'s webhooks arrive (wpf_action=add).'));
    const noTags = { ...engine.crm, capabilities: { ...engine.crm.capabilities, listing: { ...engine.crm.capabilities.listing!, byTag: false } } };
    await expect(runImport({ ...engine, crm: noTags }, { ...all, tag: 'vip' })).rejects.toThrow(/cannot list contacts by tag.*without --tag/);
    expect(await listImports(engine.db, 10)).toEqual([]);
    expect(await users()).toEqual([]);
  });
});

describe('import from ActiveCampaign (its fake)', () => {
  it('imports a tag\'s contacts with their tags and fields, one listing call per page of 100, within the rate limit', async () => {
    const ac = await startFakeActiveCampaign({ apiToken: 'ac-secret-token', rateLimitPerSecond: 5 });
    const database = await testDatabase();
    const service = await startService(
      loadConfig({ PORT: '0', CRMSYNC_DATABASE_URL: database.url, CRMSYNC_ACCESS_KEY: 'ac-access-key-0123456789', CRMSYNC_API_TOKEN: 'ac-api-token-0123456789', CRMSYNC_CRM: 'activecampaign', CRMSYNC_CRM_URL: ac.url, CRMSYNC_CRM_API_KEY: 'ac-secret-token' }),
      { logger: pino({ level: 'silent' }), workers: false, listen: false },
    );
    try {
      for (let i = 1; i <= 150; i++) ac.seedContact({ email: `ac${i}@example.com`, firstName: `A${i}`, tags: i <= 120 ? ['Member', 'Newsletter'] : ['Newsletter'] });
      const run = await runImport(service.engine, { tag: 'member', updateExisting: false, role: 'customer' });
      expect(run).toMatchObject({ state: 'done', listed: 120, created: 120, failed: 0, total: 120 });
      // tags once (name → id), then 2 pages of contacts with their tags side loaded: no per-contact calls.
      expect(ac.routeCalls('GET /api/3/contacts')).toBe(2);
      expect(ac.rateLimited).toBe(0);
      const user = await findUser(service.engine.db, { email: 'ac7@example.com' });
      expect(user).toMatchObject({ role: 'customer', tags: ['Member', 'Newsletter'], fields: { first_name: 'A7' } });
      expect(await findUser(service.engine.db, { email: 'ac130@example.com' })).toBeNull();
    } finally {
      await service.stop();
      await ac.close();
      await database.cleanup();
    }
  });
});

describe('import beside a running service (the command line\'s engine)', () => {
  it('applies the tag rules of the config file: imported tags grant their resources', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { openEngine } = await import('../src/import/engine.js');
    h = await startHarness({ workers: false });
    const file = join(mkdtempSync(join(tmpdir(), 'crmsync-rules-')), 'crmsync.json');
    writeFileSync(file, JSON.stringify({ rules: [{ tag: 'customer', resource: 'members-area' }] }));
    const config = loadConfig({ CRMSYNC_DATABASE_URL: h.databaseUrl, CRMSYNC_CONFIG: file });
    const opened = await openEngine(config, { sandboxPort: Number(new URL(h.sandbox.url).port), logger: pino({ level: 'silent' }) });
    try {
      expect(await runImport(opened.engine, all)).toMatchObject({ state: 'done', created: 4 });
    } finally {
      await opened.close();
    }
    const ada = await findUser(h.service.engine.db, { email: 'ada@example.com' });
    const access = await h.api('GET', `/api/users/${ada!.id}/access/members-area`);
    expect(access.body.granted).toBe(true);
    const grace = await findUser(h.service.engine.db, { email: 'grace@example.com' });
    expect(grace!.tags).not.toContain('customer');
    expect((await h.api('GET', `/api/users/${grace!.id}/access/members-area`)).body.granted).toBe(false);
  });
});
