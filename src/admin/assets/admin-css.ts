/** The admin UI's only stylesheet, served by us at /admin/assets/admin.css (no CDN, no web fonts). */
export const ADMIN_CSS = `
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2327;background:#f6f7f7}
a{color:#2271b1}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem}.skip:focus{left:.5rem;z-index:10}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
:focus-visible{outline:3px solid #f0b849;outline-offset:2px}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.5rem;background:#1d2327;color:#fff;padding:.6rem 1.5rem}
.top .brand{color:#fff;font-weight:700;text-decoration:none;font-size:1.1rem}
.top nav ul{display:flex;flex-wrap:wrap;gap:.2rem 1rem;list-style:none;margin:0;padding:0}
.top nav a{color:#dcdcde;text-decoration:none;padding:.2rem .1rem;border-bottom:2px solid transparent}
.top nav a[aria-current=page]{color:#fff;border-bottom-color:#72aee6}
.top nav a:hover{color:#fff}
.sign-out{margin-left:auto}.sign-out button{background:transparent;color:#dcdcde;border:1px solid #50575e}
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}
main:focus{outline:none}
h1{font-size:1.45rem;margin:.6rem 0 1rem}h2{font-size:1.1rem;margin:1.8rem 0 .6rem}
.card{background:#fff;border:1px solid #dcdcde;border-radius:6px;padding:1rem 1.2rem;margin-bottom:1rem}
.card > h2:first-child{margin-top:0}
.narrow{max-width:28rem}
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(8.5rem,1fr));gap:.8rem;margin:0 0 1rem;padding:0;list-style:none}
.stats li{background:#fff;border:1px solid #dcdcde;border-radius:6px;padding:.6rem .9rem}
.stats .n{display:block;font-size:1.5rem;font-weight:600}
.stats .l{color:#50575e;font-size:.85rem}
.table-wrap{overflow-x:auto;background:#fff;border:1px solid #dcdcde;border-radius:6px}
table{border-collapse:collapse;width:100%}
caption{text-align:left;padding:.4rem .6rem}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f0f0f1;font-weight:600;font-size:.9rem}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace;background:#f0f0f1;border-radius:3px;padding:.1rem .3rem}
pre{padding:.6rem;overflow:auto;white-space:pre-wrap;word-break:break-word}
.level{font-weight:600;display:inline-block;min-width:4.5rem}
.level-error{color:#b32d2e}.level-warning{color:#b26200}.level-notice{color:#8a6d00}.level-info{color:#2271b1}.level-http{color:#008a20}
.status-ok{color:#008a20}.status-warn{color:#b26200}.status-fail{color:#b32d2e}
.tag{display:inline-block;background:#e7f0f8;border-radius:3px;padding:0 .4rem;margin:0 .2rem .2rem 0}
.alert{background:#fcf0f1;border-left:4px solid #b32d2e;padding:.5rem .8rem}
.ok-box{background:#edfaef;border-left:4px solid #008a20;padding:.5rem .8rem}
.hint{color:#50575e;font-size:.88rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:500}
input,select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid #8c8f94;border-radius:4px;max-width:100%;background:#fff}
input[type=checkbox]{width:auto;margin:0}
label.check{display:flex;gap:.4rem;align-items:center;padding:.4rem 0}
button,.button{font:inherit;padding:.35rem .9rem;border-radius:4px;border:1px solid #2271b1;background:#2271b1;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#fff;color:#2271b1}
button.danger{background:#b32d2e;border-color:#b32d2e}
.filters{display:flex;flex-wrap:wrap;gap:.2rem 1rem;align-items:flex-end}
.filters > div{min-width:9rem}
.filters input,.filters select{width:100%}
.filters input[type=checkbox]{width:auto}
.inline{display:inline}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
details summary{cursor:pointer}
.chart svg{width:100%;height:auto;display:block}
.legend{display:flex;gap:1rem;flex-wrap:wrap;font-size:.85rem;margin:.3rem 0 0;padding:0;list-style:none}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}
.s-received{background:#2271b1}.s-coalesced{background:#72aee6}.s-rejected{background:#b32d2e}
.timeline{list-style:none;padding:0;margin:0}
.timeline li{background:#fff;border:1px solid #dcdcde;border-left:4px solid #8c8f94;border-radius:4px;padding:.5rem .8rem;margin-bottom:.5rem}
.timeline li.k-webhook{border-left-color:#2271b1}.timeline li.k-reconcile{border-left-color:#008a20}.timeline li.k-push{border-left-color:#8a6d00}.timeline li.k-operation{border-left-color:#b26200}
.kind{font-weight:600;text-transform:uppercase;font-size:.75rem;letter-spacing:.04em;margin-right:.5rem}
.url-out{display:flex;gap:.5rem;flex-wrap:wrap}.url-out input{flex:1 1 20rem;font-family:ui-monospace,monospace;font-size:13px}
.placeholder{border:2px dashed #c3c4c7;border-radius:6px;padding:.8rem 1rem;color:#50575e;background:#fff}
@media (max-width:40rem){main{padding:.8rem}.top{padding:.6rem .8rem}.sign-out{margin-left:0}th,td{padding:.35rem .4rem}.hide-narrow{display:none}}
`;
