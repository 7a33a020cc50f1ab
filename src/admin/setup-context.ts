import type { CheckResult } from '../doctor/types.js';

/** What the admin pages need beyond the API's context; built by the service. */
export interface AdminSetup {
  /** CRMSYNC_ADMIN_PASSWORD, when set: signs in besides the API token. */
  password: string | null;
  /** Session cookies get `Secure` when the public URL is https. */
  secureCookies: boolean;
  /** The configured CRM (registry name), for its guide and the dashboard. */
  crmName: string;
  /** The webhook URL for an action, access key included. */
  webhookUrl: (action: string) => string;
  /** The doctor's CRM credentials check, against the running configuration. */
  checkCrm: () => Promise<CheckResult>;
}
