import { activecampaign } from './activecampaign/index.js';
import { sandbox } from './sandbox/index.js';
import type { CrmFactory, FieldMap } from './types.js';

/** Every CRM crmsync speaks. Adding one is adding a folder and a line here. */
export const crms = { sandbox, activecampaign } satisfies Record<string, CrmFactory>;

export type CrmName = keyof typeof crms;

/** The standard field mapping (local name → the CRM's field key) each CRM starts with. */
export const defaultFieldMaps: Record<CrmName, FieldMap> = {
  sandbox: { first_name: 'first_name', last_name: 'last_name', phone: 'phone' },
  activecampaign: { first_name: 'firstName', last_name: 'lastName', phone: 'phone' },
};
