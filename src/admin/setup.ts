import { readFile } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../api/context.js';
import { credentialKind } from '../api/schemas.js';
import { WEBHOOK_ACTIONS } from '../domain/action.js';
import type { CheckResult } from '../doctor/types.js';
import { withoutBlanks } from './form-input.js';
import { html, type Html } from './html.js';
import { layout, sendPage } from './layout.js';
import type { AdminSetup } from './setup-context.js';

const BUILDER_ACTIONS = [...WEBHOOK_ACTIONS, 'test'] as const;

const builderQuery = z
  .object({
    action: z.enum(BUILDER_ACTIONS).default('update'),
    role: z.string().max(64).optional(),
    send_notification: z.enum(['1']).optional(),
  })
  .strict();

/** The guide next to the code: docs/crms/<crm>.md (from src/admin or dist/admin, two levels up). */
const guideFile = (crm: string) => new URL(`../../docs/crms/${crm}.md`, import.meta.url);

const ACTION_HELP: Record<(typeof BUILDER_ACTIONS)[number], string> = {
  update: 'loads the contact’s tags and fields from the CRM (use for “contact updated” automations)',
  update_tags: 'loads only the contact’s tags (faster; use for “tag applied/removed” automations)',
  add: 'creates the user when the contact has none yet (use for “new customer” automations)',
  test: 'answers “success” without changing anything: checks that the URL gets through',
};

/** The webhook URL for the chosen options; the CRM appends (or fills in) the contact id. */
export function builtWebhookUrl(setup: AdminSetup, options: z.infer<typeof builderQuery>): string {
  const url = new URL(setup.webhookUrl(options.action));
  if (options.action === 'add' && options.role) url.searchParams.set('role', options.role);
  if (options.action === 'add' && options.send_notification) url.searchParams.set('send_notification', 'true');
  return url.toString();
}

function checkView(result: CheckResult): Html {
  return html`<div role="status" class="${result.status === 'ok' ? 'ok-box' : 'alert'}" id="crm-check-result">
<p><strong class="status-${result.status}">${result.status.toUpperCase()}</strong> ${result.name}: ${result.detail}</p>
${result.fix ? html`<p>What to do: ${result.fix}</p>` : ''}
</div>`;
}

interface Rotated {
  label: string;
  value: string;
  previousValidUntil: string;
}

function credentialsView(ctx: AppContext, rotated: Rotated | null): Html {
  const rows = [
    ['access-key', 'Webhook access key', ctx.credentials.accessKey.info(), 'CRMSYNC_ACCESS_KEY'],
    ['api-token', 'API token', ctx.credentials.apiToken.info(), 'CRMSYNC_API_TOKEN'],
  ] as const;
  const hours = Math.round(ctx.credentials.graceMs / 3_600_000);
  return html`<p>A rotation makes a new value at once; the old one keeps working for ${hours} h (CRMSYNC_ROTATION_GRACE_HOURS), time to paste the new webhook URL into the CRM or the new token into the app.</p>
${rotated ? html`<div role="status" class="ok-box" id="rotated"><p>New ${rotated.label} (shown once, copy it now):</p><div class="url-out"><input id="rotated-value" readonly value="${rotated.value}" aria-label="New ${rotated.label}"><button type="button" data-copy="rotated-value" class="secondary">Copy</button></div><p>The previous one is accepted until ${rotated.previousValidUntil}.</p></div>` : ''}
<div class="table-wrap"><table><thead><tr><th scope="col">Credential</th><th scope="col">Last rotated</th><th scope="col">Previous value accepted until</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead><tbody>
${rows.map(([kind, name, info, variable]) => html`<tr><th scope="row">${name}</th><td>${info.rotatedAt ?? 'never'}</td><td>${info.previousValidUntil ?? '—'}</td><td>${info.source === 'environment' ? html`<span class="hint">set by ${variable}: change the variable to rotate it</span>` : html`<form method="post" action="/admin/setup/rotate/${kind}"><button type="submit">Rotate</button></form>`}</td></tr>`)}
</tbody></table></div>`;
}

export const setupPage = (ctx: AppContext, setup: AdminSetup) => {
  const render = (query: unknown, check: CheckResult | null, rotated: Rotated | null = null) => {
    const q = builderQuery.parse(withoutBlanks(query));
    if (q.role !== undefined && !ctx.engine.roles.roles.includes(q.role)) q.role = undefined;
    const url = builtWebhookUrl(setup, q);
    return html`<h1>Set-up</h1>
<section aria-labelledby="h-url" class="card">
<h2 id="h-url">Webhook URL</h2>
<p>Paste it into ${setup.crmName}’s automation (“send a webhook”). It carries the access key: keep it out of screenshots and tickets.</p>
<form method="get" action="/admin/setup" class="filters">
<div><label for="b-action">Action</label><select id="b-action" name="action">${BUILDER_ACTIONS.map((a) => html`<option value="${a}"${a === q.action ? html` selected` : ''}>${a}</option>`)}</select></div>
<div><label for="b-role">Role for new users (add)</label><select id="b-role" name="role"><option value="">default (${ctx.engine.roles.defaultRole})</option>${ctx.engine.roles.roles.map((r) => html`<option${q.role === r ? html` selected` : ''}>${r}</option>`)}</select></div>
<div><label for="b-notify" class="check"><input id="b-notify" name="send_notification" type="checkbox" value="1"${q.send_notification ? html` checked` : ''}> Send the welcome e-mail (add)</label></div>
<div><button type="submit">Build URL</button></div>
</form>
<p class="hint">${q.action}: ${ACTION_HELP[q.action]}. The CRM adds the contact’s id as <code>contact_id</code> (see the guide for its merge field).</p>
<label for="webhook-url">URL for ${q.action}</label>
<div class="url-out"><input id="webhook-url" readonly value="${url}"><button type="button" data-copy="webhook-url" class="secondary">Copy</button></div>
</section>
<section aria-labelledby="h-crm" class="card">
<h2 id="h-crm">CRM connection</h2>
<p>Runs the same check as <code>crmsync doctor</code>: one cheap read through the ${setup.crmName} adapter with the configured key.</p>
<form method="post" action="/admin/setup/crm-check"><button type="submit">Test the CRM connection</button></form>
${check ? checkView(check) : ''}
<p><a href="/admin/guide">${setup.crmName} set-up guide</a></p>
</section>
<section aria-labelledby="h-credentials" class="card">
<h2 id="h-credentials">Credentials</h2>
${credentialsView(ctx, rotated)}
</section>`;
  };

  return {
    async show(request: FastifyRequest, reply: FastifyReply) {
      return sendPage(reply, 200, layout('Set-up', 'setup', render(request.query, null)));
    },

    async crmCheck(request: FastifyRequest, reply: FastifyReply) {
      const result = await setup.checkCrm().catch((error: Error) => ({ name: 'CRM credentials', status: 'fail' as const, detail: `the check itself failed: ${error.message}` }));
      await ctx.engine.log.write({ level: result.status === 'ok' ? 'info' : 'warning', source: 'admin', message: `CRM connection test from the admin UI: ${result.status}: ${result.detail}` });
      return sendPage(reply, 200, layout('Set-up', 'setup', render({}, result)));
    },

    /** Rotation: the new value is shown once, on this answer; the old one works for the grace period. */
    async rotate(request: FastifyRequest, reply: FastifyReply) {
      const kind = credentialKind.parse((request.params as { kind: string }).kind);
      const credential = kind === 'access-key' ? ctx.credentials.accessKey : ctx.credentials.apiToken;
      const label = kind === 'access-key' ? 'access key' : 'API token';
      const { value, previousValidUntil } = await credential.rotate(ctx.credentials.graceMs);
      await ctx.engine.log.write({ level: 'notice', source: 'admin', message: `${label} rotated from the admin UI; the previous one is accepted until ${previousValidUntil}` });
      return sendPage(reply, 200, layout('Set-up', 'setup', render({}, null, { label, value, previousValidUntil })));
    },

    /** The configured CRM's guide, as escaped preformatted text (the markdown is ours, but stays inert). */
    async guide(_request: FastifyRequest, reply: FastifyReply) {
      const text = await readFile(guideFile(setup.crmName), 'utf8').catch(() => null);
      const body = text
        ? html`<h1>${setup.crmName} set-up guide</h1><pre class="card">${text}</pre>`
        : html`<h1>${setup.crmName} set-up guide</h1><p>There is no guide file for ${setup.crmName} (docs/crms/${setup.crmName}.md) in this installation.</p>`;
      return sendPage(reply, 200, layout('Guide', 'setup', body));
    },
  };
};
