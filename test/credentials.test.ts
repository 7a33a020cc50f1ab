import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, ManualClock, startHarness, type Harness } from './support/harness.js';

const run = promisify(execFile);
const HOUR = 3_600_000;

function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { CRMSYNC_ACCESS_KEY: _key, CRMSYNC_API_TOKEN: _token, ...rest } = env;
  return rest;
}

/** Access key and API token rotation: the new value works at once, the old one for the grace period only. */
describe('credential rotation', () => {
  let h: Harness;
  afterEach(async () => h?.stop());

  const webhookWith = async (key: string) => (await fetch(`${h.service.url}/?wpf_action=test&access_key=${encodeURIComponent(key)}`)).status;
  const apiWith = async (token: string) => (await fetch(`${h.service.url}/api/queue`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('rotates the access key: old and new accepted during the grace period, then only the new one', async () => {
    const clock = new ManualClock(Date.parse('2026-11-28T10:00:00Z'));
    h = await startHarness({ clock, storedSecrets: true, workers: false });
    const old = h.service.accessKey;

    const rotated = await h.api('POST', '/api/credentials/access-key/rotate', {});
    expect(rotated.status).toBe(200);
    expect(rotated.body.value).not.toBe(old);
    expect(rotated.body.previousValidUntil).toBe('2026-11-29T10:00:00.000Z');
    expect(h.service.accessKey).toBe(rotated.body.value);

    expect(await webhookWith(rotated.body.value)).toBe(200);
    expect(await webhookWith(old)).toBe(200);
    const during = await h.api('GET', '/api/credentials');
    expect(during.body.accessKey).toEqual({ source: 'stored', rotatedAt: '2026-11-28T10:00:00.000Z', previousValidUntil: '2026-11-29T10:00:00.000Z' });

    clock.advance(24 * HOUR);
    expect(await webhookWith(old)).toBe(403);
    expect(await webhookWith(rotated.body.value)).toBe(200);
    expect((await h.api('GET', '/api/credentials')).body.accessKey.previousValidUntil).toBeNull();
  });

  it('rotates the API token; graceHours 0 retires the old token at once', async () => {
    h = await startHarness({ storedSecrets: true, workers: false });
    const old = h.service.apiToken;
    const res = await fetch(`${h.service.url}/api/credentials/api-token/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${old}`, 'content-type': 'application/json' },
      body: JSON.stringify({ graceHours: 0 }),
    });
    expect(res.status).toBe(200);
    const { value } = (await res.json()) as { value: string };
    expect(await apiWith(value)).toBe(200);
    expect(await apiWith(old)).toBe(401);
  });

  it('never shows a value again: not in GET /api/credentials, not in the log', async () => {
    h = await startHarness({ storedSecrets: true, workers: false });
    const oldKey = h.service.accessKey;
    const { body } = await h.api('POST', '/api/credentials/access-key/rotate');
    const listed = JSON.stringify((await h.api('GET', '/api/credentials')).body);
    const log = JSON.stringify((await h.api('GET', '/api/log?limit=50')).body);
    expect(log).toContain('access key rotated');
    for (const text of [listed, log]) {
      expect(text).not.toContain(oldKey);
      expect(text).not.toContain(body.value);
      expect(text).not.toContain(h.service.apiToken);
    }
  });

  it('the embedded sandbox CRM calls with the new key after a rotation', async () => {
    h = await startHarness({ storedSecrets: true });
    await h.api('POST', '/api/credentials/access-key/rotate', { graceHours: 0 });
    const c = h.sandbox.state.createContact({ email: 'rotated@example.com', tags: [] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    await eventually(async () => (await h.api('GET', `/api/users?contact_id=${c.id}`)).body.users.length === 1, 5000, 'user');
    // A CRM user edits the contact: the sandbox's own webhook must be accepted with the new key.
    h.sandbox.state.editAsUser(c.id, { applyTags: ['vip'] });
    await eventually(async () => (await h.api('GET', `/api/users?contact_id=${c.id}`)).body.users[0]?.tags.includes('vip'), 5000, 'tag from the CRM');
    expect((await h.api('GET', '/api/log?level=error&limit=100')).body.entries).toEqual([]);
  });

  it('refuses to rotate a value fixed by the environment, and bad input changes nothing', async () => {
    h = await startHarness({ workers: false });
    const key = h.service.accessKey;
    const fixed = await h.api('POST', '/api/credentials/access-key/rotate');
    expect(fixed.status).toBe(409);
    expect(fixed.body.error.code).toBe('conflict');
    expect(fixed.body.error.message).toContain('CRMSYNC_ACCESS_KEY');
    expect((await h.api('GET', '/api/credentials')).body.apiToken.source).toBe('environment');

    for (const [path, body] of [
      ['/api/credentials/password/rotate', {}],
      ['/api/credentials/access-key/rotate', { graceHours: -1 }],
      ['/api/credentials/api-token/rotate', { graceHours: 'soon' }],
      ['/api/credentials/api-token/rotate', { grace: 1 }],
    ] as const) {
      const res = await h.api('POST', path, body);
      expect(res.status, path + JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect(h.service.accessKey).toBe(key);
    expect(await webhookWith(key)).toBe(200);
  });

  it('`crmsync rotate` from the command line, picked up by the running service', async () => {
    h = await startHarness({ storedSecrets: true, workers: false });
    const old = h.service.accessKey;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'rotate', 'access-key', '--grace-hours', '1'], {
      env: { ...withoutSecrets(process.env), CRMSYNC_DATABASE_URL: h.databaseUrl },
    });
    const value = /new access key: (\S+)/.exec(stdout)?.[1];
    expect(value).toBeTruthy();
    expect(stdout).toContain('wpf_action=update&access_key=');
    expect(await webhookWith(value!)).toBe(403); // not seen until the service re-reads its credentials
    await h.service.credentials.accessKey.refresh();
    expect(await webhookWith(value!)).toBe(200);
    expect(await webhookWith(old)).toBe(200);
  });
});
