import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { configFromOptions } from './options.js';

const problemsOf = (options: unknown): string[] => {
  try {
    configFromOptions(options as never);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('no ConfigError');
};

describe('createCrmsync options', () => {
  it('no options: the defaults of the environment variables', () => {
    expect(configFromOptions({})).toEqual(loadConfig({}));
  });

  it('sweep, rotation, field ownership and tag rules are options too', () => {
    const config = configFromOptions({
      sweep: { intervalSeconds: 0, overlapSeconds: 30 },
      rotationGraceHours: 2,
      fields: { phone: { owner: 'app' } },
      rules: [{ tag: 'bought-course-101', resource: 'course-101' }],
    });
    expect(config.sweep).toEqual({ intervalMs: 0, overlapMs: 30_000 });
    expect(config.rotationGraceMs).toBe(2 * 3_600_000);
    expect(config.fieldPolicies.phone).toMatchObject({ owner: 'app' });
    expect(config.rules).toMatchObject([{ tag: 'bought-course-101', resource: 'course-101' }]);
    expect(problemsOf({ sweep: { intervalSeconds: -1 } }).join()).toMatch(/sweep\.intervalSeconds/);
  });

  it('typed options land where the matching variables do', () => {
    const config = configFromOptions({
      databaseUrl: 'sqlite:/tmp/x.sqlite',
      crm: { name: 'activecampaign', url: 'https://acct.api-us1.com', apiKey: 'k', rateLimit: 3 },
      roles: { roles: ['member', 'admin'], defaultRole: 'member', privileged: ['admin'] },
      workers: 7,
      events: { timeoutMs: 2000 },
      publicUrl: 'https://app.example.com/crm',
      fields: { company: 'ORG' },
    });
    expect(config).toMatchObject({
      databaseUrl: 'sqlite:/tmp/x.sqlite',
      crm: { name: 'activecampaign', url: 'https://acct.api-us1.com', apiKey: 'k', rateLimit: 3, timeoutMs: 15_000 },
      roles: { roles: ['member', 'admin'], defaultRole: 'member', privileged: ['admin'] },
      workers: 7,
      events: { maxAttempts: 15, timeoutMs: 2000 },
      publicUrl: 'https://app.example.com/crm',
      fields: { company: 'ORG' },
    });
  });

  it('reports every problem at once, named by option path, never by variable', () => {
    const problems = problemsOf({
      databaseUrl: 'mysql://x',
      workers: 0,
      crm: { name: 'nope', colour: 'red' },
      roles: { defaultRole: 'ghost' },
      leaseMs: '30s',
      fields: { Bad: 'x' },
      sandbox: { port: -1 },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^databaseUrl: must be sqlite:PATH/),
        expect.stringMatching(/^workers: /),
        expect.stringMatching(/^crm\.name: /),
        'crm.colour: unknown option',
        'leaseMs: must be a number',
        expect.stringMatching(/^fields\.Bad: /),
        'sandbox.port: must be a whole number ≥ 0',
      ]),
    );
    expect(problems.join('\n')).not.toMatch(/CRMSYNC_/);
  });

  it('cross-checks speak in option terms too, and unknown keys are refused', () => {
    expect(problemsOf({ roles: { defaultRole: 'ghost' } })).toEqual(['roles.defaultRole: "ghost" is not one of roles.roles']);
    expect(problemsOf({ crm: { name: 'hubspot' } })).toEqual(['crm.apiKey: required for hubspot']);
    expect(problemsOf({ databseUrl: 'sqlite:x' })).toEqual(['databseUrl: unknown option']);
  });
});
