import type { FastifyReply } from 'fastify';
import { html, type Html } from './html.js';

export const NAV = [
  { href: '/admin/', label: 'Dashboard', key: 'dashboard' },
  { href: '/admin/log', label: 'Activity log', key: 'log' },
  { href: '/admin/users', label: 'Users', key: 'users' },
  { href: '/admin/queue', label: 'Queue', key: 'queue' },
  { href: '/admin/setup', label: 'Set-up', key: 'setup' },
] as const;

export type Section = (typeof NAV)[number]['key'];

function documentShell(title: string, inner: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · crmsync admin</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
<script src="/admin/assets/admin.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
${inner}
</body>
</html>`.value;
}

/** A signed-in page: header with the navigation and sign-out, then the page's content. */
export function layout(title: string, section: Section, body: Html): string {
  return documentShell(
    title,
    html`<header class="top">
<a class="brand" href="/admin/">crmsync</a>
<nav aria-label="Main">
<ul>${NAV.map((n) => html`<li><a href="${n.href}"${n.key === section ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}</ul>
</nav>
<form method="post" action="/admin/sign-out" class="sign-out"><button type="submit">Sign out</button></form>
</header>
<main id="main" tabindex="-1">
${body}
</main>`,
  );
}

/** A page outside the session (sign-in). */
export function standalone(title: string, body: Html): string {
  return documentShell(title, html`<header class="top"><span class="brand">crmsync</span></header><main id="main" tabindex="-1">${body}</main>`);
}

/** An HTML answer (the plugin's hook adds the security headers to every admin response). */
export function sendPage(reply: FastifyReply, status: number, document: string): FastifyReply {
  return reply.status(status).type('text/html; charset=utf-8').send(document);
}

export function relativeAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86_400)} days ago`;
}

export const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
