import { describe, expect, it } from 'vitest';
import { emailFromCrm } from './identity.js';

const PRIVILEGED = ['administrator'];
const user = (role: string) => ({ id: 7, email: 'boss@example.com', role });
const crm = (email: string | null) => ({ contactId: '42', email });

describe('emailFromCrm', () => {
  it('never changes a privileged user’s e-mail (a notice says what the CRM has)', () => {
    const d = emailFromCrm(PRIVILEGED, user('administrator'), crm('Other@Example.com'), null);
    expect(d.email).toBe('boss@example.com');
    expect(d.note).toEqual({ level: 'notice', message: expect.stringContaining('other@example.com') });
  });

  it('changes a regular user’s e-mail, lower-cased, unless another user has that address', () => {
    expect(emailFromCrm(PRIVILEGED, user('subscriber'), crm('New@Example.com'), null)).toMatchObject({ email: 'new@example.com', note: { level: 'info' } });
    expect(emailFromCrm(PRIVILEGED, user('subscriber'), crm('new@example.com'), { id: 8 })).toMatchObject({ email: 'boss@example.com', note: { level: 'warning' } });
  });

  it('says nothing when the CRM has the same address (in any case) or none', () => {
    for (const role of ['administrator', 'subscriber']) {
      expect(emailFromCrm(PRIVILEGED, user(role), crm('BOSS@example.com'), { id: 7 })).toEqual({ email: 'boss@example.com', note: null });
      expect(emailFromCrm(PRIVILEGED, user(role), crm(null), null)).toEqual({ email: 'boss@example.com', note: null });
    }
  });
});
