import * as activecampaign from './activecampaign/index.js';
import * as sandbox from './sandbox/index.js';
import type { CrmFactory, FieldMap } from './types.js';

interface CrmModule {
  /** Builds the adapter for one CRM account. */
  create: CrmFactory;
  /** The standard field mapping (local name → the CRM's field key) it starts with. */
  defaultFieldMap: FieldMap;
}

/** Every CRM crmsync speaks. Adding one is adding a folder and a line here. */
export const crms = {
  sandbox: { create: sandbox.sandbox, defaultFieldMap: sandbox.defaultFieldMap },
  activecampaign: { create: activecampaign.activecampaign, defaultFieldMap: activecampaign.defaultFieldMap },
} satisfies Record<string, CrmModule>;

export type CrmName = keyof typeof crms;

export const CRM_NAMES = Object.keys(crms) as [CrmName, ...CrmName[]];
