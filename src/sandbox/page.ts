import type { SandboxContact } from './contact.js';
import { html, type Raw } from './html.js';

/**
 * The sandbox's one HTML page: every contact with its tags and fields, and forms to change
 * them as a CRM user would (each change sends a webhook). Self-contained: no scripts, no CDN.
 * Every value from the data goes through `html`, which escapes it.
 */
export interface PageData {
  contacts: SandboxContact[];
  fieldKeys: string[];
  tags: string[];
  notice?: string;
}

export function renderPage({ contacts, fieldKeys, tags, notice }: PageData): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>crmsync sandbox CRM</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }
.tag { display: inline-block; background: #eef; border-radius: 3px; padding: 0 .3rem; margin: 0 .2rem .2rem 0; }
.tag button { border: 0; background: none; cursor: pointer; color: #a00; padding: 0 0 0 .2rem; }
form.inline { display: inline; }
.notice { background: #ffd; padding: .5rem; }
input { font: inherit; }
</style>
</head>
<body>
<h1>Sandbox CRM</h1>
<p>A real HTTP CRM for crmsync demos and tests. Changes made here are sent to crmsync as webhooks.</p>
${notice ? html`<p class="notice">${notice}</p>` : ''}
<datalist id="fields">${fieldKeys.map((k) => html`<option value="${k}">`)}</datalist>
<datalist id="tags">${tags.map((t) => html`<option value="${t}">`)}</datalist>
<table>
<thead><tr><th>ID</th><th>E-mail</th><th>Fields</th><th>Tags</th><th>Version</th></tr></thead>
<tbody>
${contacts.map(contactRow)}
</tbody>
</table>
<h2>New contact</h2>
<form method="post" action="/ui/contacts">
<input name="email" type="email" required placeholder="e-mail">
<input name="first_name" placeholder="first name">
<input name="last_name" placeholder="last name">
<button>Create</button>
</form>
</body>
</html>
`.markup;
}

function contactRow(c: SandboxContact): Raw {
  const id = c.id;
  return html`<tr id="contact-${id}">
<td>${id}</td>
<td>${c.email}</td>
<td>
<dl>${Object.entries(c.fields).map(([k, v]) => html`<dt>${k}</dt><dd>${v ?? '—'}</dd>`)}</dl>
<form method="post" action="/ui/contacts/${id}/fields">
<input name="key" list="fields" required placeholder="field" size="10">
<input name="value" placeholder="value (empty = clear)" size="14">
<button>Set</button>
</form>
</td>
<td>
${c.tags.map(
  (t) => html`<span class="tag">${t}<form class="inline" method="post" action="/ui/contacts/${id}/tags/remove"><input type="hidden" name="tag" value="${t}"><button title="remove">×</button></form></span>`,
)}
<form method="post" action="/ui/contacts/${id}/tags/apply">
<input name="tag" list="tags" required placeholder="tag" size="12">
<button>Add tag</button>
</form>
</td>
<td>${c.version}</td>
</tr>
`;
}
