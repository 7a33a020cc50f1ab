import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8787, host: '127.0.0.1', databaseUrl: 'sqlite:./data/crmsync.sqlite', publicUrl: 'http://127.0.0.1:8787', crm: { name: 'sandbox' } });
    expect(c.roles.defaultRole).toBe('subscriber');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reports every bad variable at once', () => {
    try {
      loadConfig({ PORT: 'eighty', CRMSYNC_CRM: 'salesforce', CRMSYNC_ACCESS_KEY: 'short', CRMSYNC_DEFAULT_ROLE: 'wizard', CRMSYNC_SMTP_URL: 'http://x' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as ConfigError).problems.join('\n');
      for (const name of ['PORT', 'CRMSYNC_CRM', 'CRMSYNC_ACCESS_KEY', 'CRMSYNC_SMTP_URL']) expect(text).toContain(name);
      expect((error as Error).message).not.toContain('short');
    }
  });

  it('requires a URL and key for a hosted CRM', () => {
    expect(() => loadConfig({ CRMSYNC_CRM: 'activecampaign' })).toThrow(/CRMSYNC_CRM_URL[\s\S]*CRMSYNC_CRM_API_KEY/);
  });

  it('reads extra field mappings from the config file and rejects bad ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crmsync-config-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ fields: { company: 'orgname' } }));
    expect(loadConfig({ CRMSYNC_CONFIG: good }).fields).toEqual({ company: 'orgname' });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ fields: { 'Bad Name': 'x' }, extra: true }));
    expect(() => loadConfig({ CRMSYNC_CONFIG: bad })).toThrow(/CRMSYNC_CONFIG/);
  });

  it('reads tag rules from the config file and reports every bad rule at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crmsync-config-'));
    const good = join(dir, 'rules.json');
    writeFileSync(good, JSON.stringify({ rules: [{ tag: 'bought-101', resource: 'course-101', applyTags: ['bought-101'] }] }));
    expect(loadConfig({ CRMSYNC_CONFIG: good }).rules).toEqual([{ tag: 'bought-101', resource: 'course-101', revokeTags: [], applyTags: ['bought-101'] }]);
    expect(loadConfig({}).rules).toEqual([]);
    const bad = join(dir, 'bad-rules.json');
    writeFileSync(bad, JSON.stringify({ rules: [{ tag: 'x', resource: 'no spaces allowed', revokeTags: ['x'] }, { resource: 'ok', grants: 'y' }] }));
    try {
      loadConfig({ CRMSYNC_CONFIG: bad, PORT: 'eighty' });
      expect.unreachable();
    } catch (error) {
      const text = (error as ConfigError).problems.join('\n');
      for (const part of ['PORT', 'rules.0.resource', 'rules.0.revokeTags', 'rules.1.tag', 'grants']) expect(text).toContain(part);
    }
  });
});
