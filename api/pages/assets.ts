/*
 * The pages' one style sheet and one script, served by the app (/pages/pages.css, /pages/pages.js) so
 * the pages' CSP allows no inline code and nothing remote. The script only localizes dates: every
 * page reads fully without it.
 */

export const PAGES_CSS = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #4d5661; --line: #d0d7de; --bg: #f6f8fa;
  --accent: #0b5cad; --ok: #1a7f37; --warn: #8a5a00; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #fff; }
header.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between;
  padding: .75rem 1rem; border-bottom: 1px solid var(--line); background: var(--bg); }
header.top .brand { font-weight: 600; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 0 0 .75rem; }
section.card { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin: 0 0 1rem; overflow-x: auto; }
.grid { display: grid; gap: 1rem; margin: 0 0 1rem; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); }
.grid > section.card { margin: 0; }
.banner { border-radius: 8px; padding: .75rem 1rem; margin: 0 0 1rem; border: 1px solid var(--line); background: var(--bg); }
.banner.ok { border-color: var(--ok); }
.banner.warn { border-color: var(--warn); background: #fff8e5; }
.banner.bad { border-color: var(--bad); background: #fdecea; }
.banner strong { font-size: 1.1rem; }
.notice { border-left: 4px solid var(--accent); padding: .5rem .75rem; background: #eef5fc; margin: 0 0 1rem; }
.notice.error { border-color: var(--bad); background: #fdecea; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.wrap { overflow-wrap: anywhere; min-width: 6rem; }
th { font-weight: 600; color: var(--muted); font-size: .9rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.big { font-size: 1.6rem; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.money { white-space: nowrap; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: .5rem 0 1rem; }
legend { font-weight: 600; padding: 0 .25rem; }
p.inline, div.inline { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-end; margin: .5rem 0; }
form.inline { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-end; margin: .5rem 0; }
label { display: block; font-weight: 600; font-size: .9rem; }
label.plain { display: inline; font-weight: normal; font-size: 1rem; }
input, select, textarea, button { font: inherit; }
input[type=text], input[type=search], input[type=password], select, textarea { padding: .4rem .5rem; border: 1px solid #8c959f; border-radius: 6px; min-width: 0; max-width: 100%; }
button { padding: .45rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #f0b429; outline-offset: 2px; }
.field-error { color: var(--bad); font-size: .9rem; margin: .25rem 0 0; }
meter { width: 8rem; }
figure { margin: 1rem 0; }
figure > svg { display: block; max-width: 30rem; height: auto; }
figcaption.legend { display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .9rem; color: var(--muted); }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .25rem .5rem; }
.pager { display: flex; gap: 1rem; margin-top: .75rem; }
@media (max-width: 40rem) {
  main { padding: .75rem; }
  th, td { padding: .35rem .3rem; font-size: .95rem; }
  .hide-narrow { display: none; }
}
`;

// Dates are rendered in UTC (readable without script); this shows them in the viewer's time zone and
// keeps UTC on hover.
export const PAGES_JS = `document.querySelectorAll('time[datetime]').forEach(function (element) {
  var date = new Date(element.getAttribute('datetime'));
  if (isNaN(date.getTime())) return;
  var dateOnly = element.hasAttribute('data-date');
  element.title = element.textContent + ' (UTC)';
  element.textContent = dateOnly
    ? date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' })
    : date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
});
`;
