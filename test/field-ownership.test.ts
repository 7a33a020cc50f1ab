import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSyncedFields } from '../src/store/field-sync.js';
import { listOperations } from '../src/store/operations.js';
import { updateUser } from '../src/store/users.js';
import { ManualClock, startHarness, type Harness } from './support/harness.js';

/**
 * Issue 5, field ownership, through the real service and the sandbox CRM: who wins per mapped
 * field, the three-way merge of `both` fields, and the rules that always hold (privileged
 * users' e-mail and role, the registration date, empty CRM values).
 */
type Entry = { level: string; message: string; source: string; context: Record<string, unknown> | null };

// first_name: the CRM owns it; last_name: the app owns it; phone: both (defaults); company: both, may be cleared.
const FIELDS = {
  first_name: { owner: 'crm' },
  last_name: { owner: 'app' },
  phone: 'phone',
  company: { crm: 'company', owner: 'both', clearOnEmpty: true },
};

let h: Harness;
afterEach(async () => h?.stop());

async function start(options: { clock?: ManualClock } = {}): Promise<Harness> {
  const file = join(mkdtempSync(join(tmpdir(), 'crmsync-fields-')), 'crmsync.json');
  writeFileSync(file, JSON.stringify({ fields: FIELDS }));
  return startHarness({ workers: false, env: { CRMSYNC_CONFIG: file }, ...(options.clock && { clock: options.clock }) });
}

/** Lets the sandbox's webhooks reach crmsync, then runs the queue until nothing is due. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await h.sandbox.webhooks.idle();
    if ((await h.drain()) === 0) return;
  }
}

const user = async (id: number) => (await h.api('GET', `/api/users/${id}`)).body;
const log = async (query = '') => (await h.api<{ entries: Entry[] }>('GET', `/api/log?limit=1000${query}`)).body.entries;

async function userFromCrm(email: string, fields: Record<string, string | null>): Promise<{ contactId: string; userId: number }> {
  const contact = h.sandbox.state.createContact({ email, fields }, 'seed');
  expect((await h.webhook({ wpf_action: 'add', contact_id: contact.id })).status).toBe(200);
  await settle();
  const found = (await h.api('GET', `/api/users?contact_id=${contact.id}`)).body.users[0];
  expect(found).toBeTruthy();
  return { contactId: contact.id, userId: found.id };
}

describe('field ownership — crm and app owners', () => {
  it('a CRM edit to a crm-owned field lands; to an app-owned field it is ignored and corrected once, without ping-pong', async () => {
    h = await start();
    const { contactId, userId } = await userFromCrm('augusta@example.org', { first_name: 'Ada', last_name: 'Lovelace', phone: '100' });
    expect((await user(userId)).fields).toMatchObject({ first_name: 'Ada', last_name: 'Lovelace', phone: '100' });

    const apiWrites: Record<string, string | null>[] = [];
    h.sandbox.state.onChange((c, source) => source === 'api' && c.id === contactId && apiWrites.push({ ...c.fields }));
    h.sandbox.state.editAsUser(contactId, { fields: { first_name: 'Augusta', last_name: 'Byron' } });
    await settle();

    const after = await user(userId);
    expect(after.fields).toMatchObject({ first_name: 'Augusta', last_name: 'Lovelace', phone: '100' });
    // The app's value went back to the CRM, once; its echo changed nothing and pushed nothing.
    expect(h.sandbox.state.get(contactId)?.fields).toMatchObject({ first_name: 'Augusta', last_name: 'Lovelace' });
    expect(apiWrites).toHaveLength(1);
    expect(apiWrites[0]).toMatchObject({ last_name: 'Lovelace' });
    expect(after.pendingOperations).toEqual([]);
    const ignored = (await log('&level=info')).filter((e) => e.message.includes('last_name is owned by the app'));
    expect(ignored).toHaveLength(1);
    expect(ignored[0]!.context).toMatchObject({ field: 'last_name', crm: 'Byron', local: 'Lovelace' });

    // Again, a settled queue stays settled: no further write.
    h.sandbox.state.editAsUser(contactId, { fields: { phone: '101' } });
    await settle();
    expect((await user(userId)).fields).toMatchObject({ phone: '101', last_name: 'Lovelace' });
    expect(apiWrites).toHaveLength(1);
  });

  it('refuses an app change to a crm-owned field (400, nothing changed); an unchanged value in a full form is fine', async () => {
    h = await start();
    const { contactId, userId } = await userFromCrm('hopper@example.org', { first_name: 'Grace', last_name: 'Hopper' });
    const refused = await h.api('PATCH', `/api/users/${userId}`, { fields: { first_name: 'Amazing', last_name: 'H.' } });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toEqual({ code: 'invalid_request', message: expect.stringContaining('first_name') });
    expect((await user(userId)).fields).toMatchObject({ first_name: 'Grace', last_name: 'Hopper' });
    expect(await listOperations(h.service.engine.db, userId)).toEqual([]);

    const accepted = await h.api('PATCH', `/api/users/${userId}`, { fields: { first_name: 'Grace', last_name: 'Brewster Hopper' } });
    expect(accepted.status).toBe(200);
    await settle();
    expect(h.sandbox.state.get(contactId)?.fields).toMatchObject({ first_name: 'Grace', last_name: 'Brewster Hopper' });
  });
});

describe('field ownership — both: three-way merge', () => {
  it('a concurrent edit in the CRM and the app is logged as a conflict with both values; the app’s pending change wins and reaches the CRM', async () => {
    h = await start();
    const { contactId, userId } = await userFromCrm('linus@example.com', { phone: '111' });
    expect(await loadSyncedFields(h.service.engine.db, userId)).toMatchObject({ phone: '111' });

    // The CRM user changes the phone (its webhook is queued), and the app changes it too.
    h.sandbox.state.editAsUser(contactId, { fields: { phone: '222' } });
    await h.sandbox.webhooks.idle();
    expect((await h.api('PATCH', `/api/users/${userId}`, { fields: { phone: '333' } })).status).toBe(200);
    await settle();

    const conflicts = (await log('&level=warning')).filter((e) => e.message.includes('conflict on field phone'));
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.context).toMatchObject({ field: 'phone', crm: '222', app: '333', synced: '111', resolution: 'app' });
    expect((await user(userId)).fields.phone).toBe('333');
    expect(h.sandbox.state.get(contactId)?.fields.phone).toBe('333');
    // The echo of our write confirmed it: both sides agree and that is the new last synced value.
    expect((await user(userId)).pendingOperations).toEqual([]);
    expect(await loadSyncedFields(h.service.engine.db, userId)).toMatchObject({ phone: '333' });
  });

  it('only the CRM changed: taken; only the app changed: kept and pushed; no conflict logged', async () => {
    h = await start();
    const { contactId, userId } = await userFromCrm('edsger@example.com', { phone: '1', company: 'TH Eindhoven' });
    h.sandbox.state.editAsUser(contactId, { fields: { phone: '2' } });
    await settle();
    expect((await user(userId)).fields.phone).toBe('2');
    await h.api('PATCH', `/api/users/${userId}`, { fields: { company: 'UT Austin' } });
    await settle();
    expect(h.sandbox.state.get(contactId)?.fields).toMatchObject({ phone: '2', company: 'UT Austin' });
    expect(await loadSyncedFields(h.service.engine.db, userId)).toMatchObject({ phone: '2', company: 'UT Austin' });
    expect((await log('&level=warning')).filter((e) => e.message.includes('conflict'))).toEqual([]);
  });

  it('an empty CRM phone does not erase the local phone; a field with clearOnEmpty is cleared', async () => {
    h = await start();
    const { contactId, userId } = await userFromCrm('barbara@example.com', { phone: '555-0100', company: 'MIT' });
    h.sandbox.state.editAsUser(contactId, { fields: { phone: null, company: null } });
    await settle();
    const after = await user(userId);
    expect(after.fields.phone).toBe('555-0100');
    expect(after.fields.company).toBeNull();
    expect(h.sandbox.state.get(contactId)?.fields.phone).toBeNull(); // not pushed back either
    expect((await log('&level=info')).some((e) => e.message.includes('field phone: the CRM value is empty; local value kept'))).toBe(true);
  });
});

describe('field ownership — what the CRM never changes', () => {
  it("a privileged user's e-mail and role are never changed by the CRM (notices); a regular user's e-mail is; the registration date stays", async () => {
    const clock = new ManualClock();
    h = await start({ clock });
    const db = h.service.engine.db;
    const admin = await userFromCrm('boss.new@example.com', { first_name: 'Boss' });
    clock.advance(60_000);
    const member = await userFromCrm('member.new@example.com', { first_name: 'Member' });
    expect((await h.api('PATCH', `/api/users/${admin.userId}`, { role: 'administrator' })).status).toBe(200);
    // The sandbox cannot change a contact's e-mail: give the local users their old address
    // instead, which is the same state as a CRM-side e-mail change.
    await updateUser(db, admin.userId, { email: 'boss@example.com' }, clock.now());
    await updateUser(db, member.userId, { email: 'member@example.com' }, clock.now());
    const created = { admin: (await user(admin.userId)).createdAt, member: (await user(member.userId)).createdAt };
    expect(created.admin).not.toBe(created.member);

    clock.advance(3_600_000);
    for (const who of [admin, member]) {
      expect((await h.webhook({ wpf_action: 'update', contact_id: who.contactId, role: 'subscriber' })).status).toBe(200);
      expect((await h.webhook({ wpf_action: 'add', contact_id: who.contactId })).status).toBe(200);
    }
    await settle();

    const a = await user(admin.userId);
    const m = await user(member.userId);
    expect({ email: a.email, role: a.role }).toEqual({ email: 'boss@example.com', role: 'administrator' });
    expect({ email: m.email, role: m.role }).toEqual({ email: 'member.new@example.com', role: 'subscriber' });
    expect({ admin: a.createdAt, member: m.createdAt }).toEqual(created);
    const notices = (await log('&level=notice')).map((e) => e.message);
    expect(notices).toContainEqual(expect.stringMatching(new RegExp(`e-mail of privileged user #${admin.userId} is never changed by the CRM`)));
    expect(notices).toContainEqual(expect.stringContaining('role of privileged user ("administrator") is never changed'));
  });
});
