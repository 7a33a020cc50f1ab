import { describe, expect, it } from 'vitest';
import { nextRole, roleForWebhook } from './role.js';

const policy = { roles: ['subscriber', 'member', 'administrator'], defaultRole: 'subscriber', privileged: ['administrator'] };

describe('roles from webhooks', () => {
  it('grants an allowed role', () => expect(roleForWebhook(policy, 'member')).toEqual({ role: 'member', notice: null }));
  it('never grants a privileged role', () => {
    const d = roleForWebhook(policy, 'administrator');
    expect(d.role).toBe('subscriber');
    expect(d.notice).toMatch(/never granted/);
  });
  it('falls back to the default for an unknown role', () => {
    const d = roleForWebhook(policy, 'wizard');
    expect(d.role).toBe('subscriber');
    expect(d.notice).toMatch(/unknown role/);
  });
  it('never changes a privileged user', () => {
    const d = nextRole(policy, 'administrator', 'member');
    expect(d.role).toBe('administrator');
    expect(d.notice).toMatch(/privileged/);
  });
  it('changes a normal user', () => expect(nextRole(policy, 'subscriber', 'member')).toEqual({ role: 'member', notice: null }));
});
