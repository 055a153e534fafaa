// The status page's style sheet (issue #24), served at /app.css. Mobile first: one column on a
// phone, two or three on wider screens; light or dark as the device is set; state is told by text
// as well as colour.
export const APP_CSS = `:root {
  --bg: #f6f7f9;
  --card: #fff;
  --fg: #1d2125;
  --muted: #5d6670;
  --line: #d8dde3;
  --ok: #1a7f37;
  --warn: #9a6700;
  --bad: #c62828;
  --accent: #0b62c4;
  font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg);
  background: var(--bg);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #111418;
    --card: #1b2026;
    --fg: #e6e9ec;
    --muted: #9aa4ae;
    --line: #323a43;
    --ok: #4ac26b;
    --warn: #d4a72c;
    --bad: #ff6b6b;
    --accent: #58a6ff;
  }
}
* { box-sizing: border-box; }
body { margin: 0; }
header { padding: 0.75rem 1rem 0; }
h1 { font-size: 1.25rem; margin: 0; overflow-wrap: anywhere; }
h2 { font-size: 1rem; margin: 0 0 0.5rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
h3 { font-size: 1rem; margin: 0 0 0.25rem; overflow-wrap: anywhere; }
small, .meta, .muted { color: var(--muted); }
.meta { margin: 0.25rem 0 0; font-size: 0.875rem; }
.banner { margin: 0.75rem 1rem 0; padding: 0.5rem 0.75rem; border-radius: 6px; background: var(--bad); color: #fff; font-weight: 600; }
main { display: grid; gap: 1rem; padding: 1rem; max-width: 90rem; margin: 0 auto; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem 1rem; min-width: 0; }
@media (min-width: 48rem) {
  main { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .wide { grid-column: 1 / -1; }
}
@media (min-width: 75rem) {
  main { grid-template-columns: repeat(3, minmax(0, 1fr)); }
}
.big { font-size: 1.75rem; font-weight: 600; margin: 0 0 0.5rem; }
.unit { font-size: 1rem; font-weight: 400; color: var(--muted); }
.state.ok { color: var(--ok); }
.state.warn { color: var(--warn); }
.state.bad { color: var(--bad); }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.125rem 1rem; margin: 0.5rem 0 0; font-size: 0.875rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.plain { list-style: none; margin: 0; padding: 0; }
figure { margin: 0; }
svg { display: block; width: 100%; height: 5rem; }
svg polyline { fill: none; stroke: var(--accent); stroke-width: 2; }
svg .axis { stroke: var(--line); stroke-width: 1; }
figcaption { font-size: 0.8125rem; color: var(--muted); }
.cards { display: grid; gap: 0.75rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 16rem), 1fr)); }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.75rem; min-width: 0; }
.card p { margin: 0; }
.values li { font-size: 1.125rem; overflow-wrap: anywhere; }
.values .key { color: var(--muted); font-size: 0.875rem; }
.values .value { font-weight: 600; font-variant-numeric: tabular-nums; }
.log li { padding: 0.25rem 0; border-top: 1px solid var(--line); font-size: 0.875rem; overflow-wrap: anywhere; }
.log li:first-child { border-top: 0; }
.log time, .log .component { color: var(--muted); }
.log .level { font-weight: 600; text-transform: uppercase; font-size: 0.75rem; }
.level-warn .level { color: var(--warn); }
.level-error .level, .level-fatal .level { color: var(--bad); }
`;
