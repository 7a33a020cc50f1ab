import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'crmsync-fields-'));
let n = 0;
function configFile(content: unknown): string {
  const file = join(dir, `config-${n++}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return expect.unreachable('the configuration was accepted') as never;
}

describe('configuration: field ownership', () => {
  it('keeps the short form and adds the long form, with defaults owner both and clearOnEmpty false', () => {
    const c = loadConfig({
      CRMSYNC_CONFIG: configFile({ fields: { company: 'orgname', plan: { crm: 'PLAN', owner: 'app' }, phone: { owner: 'crm', clearOnEmpty: true }, nickname: { crm: 'NICK' } } }),
    });
    expect(c.fields).toEqual({ company: 'orgname', plan: 'PLAN', nickname: 'NICK' });
    expect(c.fieldPolicies).toMatchObject({
      company: { owner: 'both', clearOnEmpty: false },
      plan: { owner: 'app', clearOnEmpty: false },
      phone: { owner: 'crm', clearOnEmpty: true },
      nickname: { owner: 'both', clearOnEmpty: false },
    });
    expect(Object.isFrozen(c.fieldPolicies)).toBe(true);
    expect(loadConfig({}).fieldPolicies).toEqual({});
  });

  it('lets a standard field of the chosen CRM leave out its CRM key; any other field needs one', () => {
    const file = configFile({ fields: { last_name: { owner: 'app' }, company: { owner: 'app' } } });
    const found = problems({ CRMSYNC_CONFIG: file });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/fields\.company\.crm: required/);
    // For HubSpot the standard fields are the same local names (mapped to its own keys).
    expect(problems({ CRMSYNC_CONFIG: file, CRMSYNC_CRM: 'hubspot', CRMSYNC_CRM_API_KEY: 'k' }).join('\n')).toMatch(/fields\.company\.crm: required/);
  });

  it('reports every bad field at once, each with its path', () => {
    const found = problems({
      CRMSYNC_CONFIG: configFile({ fields: { phone: { crm: 'PHONE', owner: 'crmm', clearOnEmpty: 'no' }, company: { owner: 'app' }, x: 5, y: '', first_name: { owner: 'crm', extra: 1 } } }),
    });
    const text = found.join('\n');
    expect(found).toHaveLength(6);
    for (const path of ['fields.phone.owner', 'fields.phone.clearOnEmpty', 'fields.company.crm', 'fields.x', 'fields.y.crm', 'fields.first_name']) expect(text).toContain(path);
    expect(text).toContain('"extra"');
  });
});
