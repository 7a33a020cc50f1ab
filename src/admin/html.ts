/**
 * HTML built only through this tagged template: every interpolated value is escaped unless it
 * is itself `Html` made here. CRM data can therefore never inject markup into our pages.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => (out += render(v) + (strings[i + 1] ?? '')));
  return new Html(out);
}

export function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · crmsync</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#1d2327}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
code,pre{font:13px ui-monospace,monospace;background:#f6f7f7;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}
.level-error{color:#b32d2e}.level-warning{color:#b26200}.level-notice{color:#8a6d00}.level-info{color:#2271b1}.level-http{color:#008a20}
.tag{display:inline-block;background:#e7f0f8;border-radius:3px;padding:0 .4rem;margin:0 .2rem .2rem 0}
.added{color:#008a20}.removed{color:#b32d2e}
label{display:block;margin:.6rem 0 .2rem}input{font:inherit;padding:.3rem}button{font:inherit;padding:.3rem .8rem}
</style>
</head>
<body>
${body}
</body>
</html>`.value;
}
