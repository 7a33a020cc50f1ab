import { describe, expect, it } from 'vitest';
import { defaultFieldMap, effectiveFieldMap, toContactWrite, toSandboxFields, toSnapshot } from './mappers.js';
import type { RawContact } from './types.js';

const raw: RawContact = {
  id: '7',
  email: 'ada@example.com',
  fields: { first_name: 'Ada', last_name: null, phone: '1', nick_name: 'Countess' },
  tags: ['vip', 'customer'],
  version: 4,
  updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('sandbox mappers', () => {
  const map = effectiveFieldMap({ nickname: 'nick_name', company: 'company' });

  it('maps the standard fields by default, adds configured ones, and never maps email as a field', () => {
    expect(effectiveFieldMap({})).toEqual(defaultFieldMap);
    expect(effectiveFieldMap({ email: 'email', phone: 'mobile' })).toEqual({ first_name: 'first_name', last_name: 'last_name', phone: 'mobile' });
  });

  it('reads a contact into a snapshot with local names; a mapped field the contact lacks is null', () => {
    expect(toSnapshot(raw, map, 1234)).toEqual({
      contactId: '7',
      email: 'ada@example.com',
      tags: ['customer', 'vip'],
      fields: { first_name: 'Ada', last_name: null, phone: '1', nickname: 'Countess', company: null },
      readAt: 1234,
    });
  });

  it('writes only mapped fields, under the sandbox keys', () => {
    expect(toSandboxFields({ nickname: 'N', last_name: null, secret_local: 'x' }, map)).toEqual({ nick_name: 'N', last_name: null });
    expect(toContactWrite({ email: 'a@example.com', fields: { first_name: 'A' } }, map)).toEqual({ email: 'a@example.com', fields: { first_name: 'A' } });
  });
});
