import * as activecampaign from './activecampaign/index.js';
import * as brevo from './brevo/index.js';
import * as drip from './drip/index.js';
import * as hubspot from './hubspot/index.js';
import * as keap from './keap/index.js';
import * as kit from './kit/index.js';
import * as klaviyo from './klaviyo/index.js';
import * as mailchimp from './mailchimp/index.js';
import * as mailerlite from './mailerlite/index.js';
import * as mautic from './mautic/index.js';
import * as sandbox from './sandbox/index.js';
import type { CrmFactory, FieldMap } from './types.js';

interface CrmModule {
  /** Builds the adapter for one CRM account. */
  create: CrmFactory;
  /** The standard field mapping (local name → the CRM's field key) it starts with. */
  defaultFieldMap: FieldMap;
  /** The API's base URL when it is the same for every account (else CRMSYNC_CRM_URL is required). */
  defaultUrl: string | null;
}

/** Every CRM crmsync speaks. Adding one is adding a folder and a line here. */
export const crms = {
  sandbox: { create: sandbox.sandbox, defaultFieldMap: sandbox.defaultFieldMap, defaultUrl: null },
  activecampaign: { create: activecampaign.activecampaign, defaultFieldMap: activecampaign.defaultFieldMap, defaultUrl: null },
  hubspot: { create: hubspot.hubspot, defaultFieldMap: hubspot.defaultFieldMap, defaultUrl: 'https://api.hubapi.com' },
  mailchimp: { create: mailchimp.mailchimp, defaultFieldMap: mailchimp.defaultFieldMap, defaultUrl: null },
  kit: { create: kit.kit, defaultFieldMap: kit.defaultFieldMap, defaultUrl: 'https://api.kit.com' },
  drip: { create: drip.drip, defaultFieldMap: drip.defaultFieldMap, defaultUrl: null },
  brevo: { create: brevo.brevo, defaultFieldMap: brevo.defaultFieldMap, defaultUrl: 'https://api.brevo.com/v3' },
  keap: { create: keap.keap, defaultFieldMap: keap.defaultFieldMap, defaultUrl: 'https://api.infusionsoft.com/crm/rest/v1' },
  klaviyo: { create: klaviyo.klaviyo, defaultFieldMap: klaviyo.defaultFieldMap, defaultUrl: 'https://a.klaviyo.com/api' },
  mautic: { create: mautic.mautic, defaultFieldMap: mautic.defaultFieldMap, defaultUrl: null },
  mailerlite: { create: mailerlite.mailerlite, defaultFieldMap: mailerlite.defaultFieldMap, defaultUrl: 'https://connect.mailerlite.com/api' },
} satisfies Record<string, CrmModule>;

export type CrmName = keyof typeof crms;

export const CRM_NAMES = Object.keys(crms) as [CrmName, ...CrmName[]];
