// The status page's script (issue #24), served at /app.js. Plain browser JavaScript in a string so
// the single binary carries it with no build step: it must hold no backtick, backslash or dollar-brace.
// Everything shown comes from the field (sensor values, log lines, errors) and may be hostile: it is
// only ever set with textContent or as an SVG number list, never parsed as HTML.
// Data: pushed by EventSource('/api/events'); if that fails, /api/status is polled every 2 s. While
// the tab is hidden the page closes both, so an agent nobody looks at does no work for it.
export const APP_JS = `const POLL_MS = 2000;
/** No data for this long (the agent pushes every second): say so. */
const STALE_MS = 6000;
/** Back from polling to pushed data after this long, in case what broke the stream has passed. */
const RETRY_STREAM_MS = 60000;
const HOUR_MS = 3600000;
const STATE_CLASS = { connected: 'ok', connecting: 'warn', starting: 'warn', 'waiting-for-clock': 'warn' };

const byId = (id) => document.getElementById(id);
const setText = (id, value) => {
  const e = byId(id);
  if (e.textContent !== value) e.textContent = value;
};
const el = (tag, className, content) => {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (content !== undefined) e.textContent = content;
  return e;
};
const fact = (dl, term, value) => dl.append(el('dt', '', term), el('dd', '', value));
const orNA = (n, f) => (n === null || n === undefined ? 'n/a' : f(n));

function bytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return s + ' s';
  const m = Math.floor(s / 60);
  if (m < 120) return m + ' min';
  const h = Math.floor(m / 60);
  if (h < 48) return h + ' h ' + (m % 60) + ' min';
  return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
}

/** An agent timestamp as a clock time, with the date when it is not recent. */
function clock(ts, now) {
  const d = new Date(ts);
  return (now - ts > 72000000 ? d.toLocaleDateString() + ' ' : '') + d.toLocaleTimeString();
}

const ago = (ts, now) => (ts === null ? 'never' : duration(now - ts) + ' ago');

function renderLink(d) {
  const state = byId('link-state');
  state.textContent = d.link.state;
  state.className = 'state ' + (STATE_CLASS[d.link.state] || 'bad');
  setText('link-since', clock(d.link.since, d.now) + ' (' + duration(d.now - d.link.since) + ')');
  setText('link-provider', d.link.provider);
  setText('link-endpoint', d.link.endpoint);
  setText('link-error', d.link.lastError || 'none');
  byId('destinations').hidden = d.destinations.length === 0;
  byId('destination-list').replaceChildren(
    ...d.destinations.map((x) => {
      const li = el('li');
      li.append(el('strong', '', x.id), ' ', el('span', 'state ' + (STATE_CLASS[x.state] || 'bad'), x.state), ' since ' + clock(x.since, d.now) + ', ' + x.pending + ' waiting');
      return li;
    }),
  );
}

function renderOutbox(d) {
  const o = d.outbox;
  setText('outbox-pending', String(o.pending));
  setText('outbox-drain', o.drainPerS + ' readings/s');
  setText('outbox-bytes', bytes(o.bytes) + ' of ' + bytes(o.maxBytes));
  setText('outbox-oldest', o.oldestTs === null ? 'nothing waiting' : clock(o.oldestTs, d.now) + ' (' + duration(d.now - o.oldestTs) + ')');
  setText('outbox-dropped', String(o.dropped));
  setText('outbox-written', orNA(o.writtenBytes, bytes));
  setText('outbox-sent', bytes(o.sentBytes));
  renderTrend(d.trend.concat([{ t: d.now, pending: o.pending }]), d.now);
}

/** The last hour as a polyline in a 300 x 80 box: time across, depth up, scaled to the hour's maximum. */
function renderTrend(points, now) {
  const start = now - HOUR_MS;
  const shown = points.filter((p) => p.t >= start && p.t <= now);
  const max = Math.max(1, ...shown.map((p) => p.pending));
  byId('trend-line').setAttribute('points', shown.map((p) => (((p.t - start) / HOUR_MS) * 300).toFixed(1) + ',' + (79 - (p.pending / max) * 77).toFixed(1)).join(' '));
  const first = shown[0].pending;
  const last = shown[shown.length - 1].pending;
  const way = last > first ? 'rising' : last < first ? 'falling' : 'steady';
  setText('trend-caption', 'Readings waiting over the last hour: ' + way + ' (' + first + ' then, ' + last + ' now, at most ' + max + ')');
}

function renderGateway(g) {
  const v = g || {};
  setText('gateway-cpu', orNA(v.cpuLoad1, (n) => n.toFixed(2)));
  setText('gateway-mem', orNA(v.memUsedPercent, (n) => n.toFixed(0) + ' %'));
  setText('gateway-temp', orNA(v.temperatureC, (n) => n.toFixed(1) + ' °C'));
  setText('gateway-disk', orNA(v.diskUsedPercent, (n) => n.toFixed(0) + ' %'));
}

function sensorCard(s, now) {
  const card = el('article', 'card');
  card.id = 'sensor-' + s.id;
  const title = el('h3', '', s.id);
  title.append(' ', el('small', '', s.type));
  card.append(title);
  if (s.values === null) card.append(el('p', 'muted', 'no reading yet'));
  else {
    const list = el('ul', 'plain values');
    for (const [key, value] of Object.entries(s.values)) {
      const li = el('li');
      li.append(el('span', 'key', key), ' ', el('span', 'value', String(value)));
      list.append(li);
    }
    card.append(list);
  }
  const facts = el('dl');
  fact(facts, 'last seen', ago(s.lastSeenTs, now));
  fact(facts, 'rate', s.ratePerS + ' /s');
  fact(facts, 'parse errors', String(s.parseErrors));
  fact(facts, 'I/O errors', String(s.ioErrors));
  if (s.lastError) fact(facts, 'last error', s.lastError);
  card.append(facts);
  return card;
}

let shownLog = '';
function renderLog(log, now) {
  // Rebuilt only when it changed: the list is the longest part of the page.
  const key = log.length + ' ' + (log[0] ? log[0].at + ' ' + log[0].message : '');
  if (key === shownLog) return;
  shownLog = key;
  const items = log.slice(0, 50).map((l) => {
    const li = el('li', 'level-' + l.level);
    const at = el('time', '', clock(l.at, now));
    at.dateTime = new Date(l.at).toISOString();
    li.append(at, ' ', el('span', 'level', l.level), ' ', el('span', 'component', l.component), ' ', el('span', 'message', l.message));
    return li;
  });
  byId('log-list').replaceChildren(...(items.length ? items : [el('li', 'muted', 'nothing since the agent started')]));
}

function render(d) {
  setText('agent-id', d.agentId);
  setText('version', d.version);
  setText('uptime', duration(d.uptimeS * 1000));
  renderLink(d);
  renderOutbox(d);
  renderGateway(d.gateway);
  const sensors = d.sensors.map((s) => sensorCard(s, d.now));
  byId('sensor-list').replaceChildren(...(sensors.length ? sensors : [el('p', 'muted', 'no sensors configured')]));
  renderLog(d.log, d.now);
  document.title = d.link.state + ' · ' + d.agentId + ' · edge-agent';
}

let lastData = Date.now();
function received(json) {
  let d;
  try {
    d = JSON.parse(json);
    render(d);
  } catch (error) {
    console.error('status page: unreadable data', error);
    return;
  }
  lastData = Date.now();
  const updated = byId('updated');
  updated.textContent = new Date(lastData).toLocaleTimeString();
  updated.dateTime = new Date(lastData).toISOString();
  byId('connection-lost').hidden = true;
}

/** Bumped by start() and stop(): a poll or stream from an earlier visit ends quietly. */
let generation = 0;
let stream = null;
let pollTimer = 0;
let staleTimer = 0;

function openStream(gen) {
  if (typeof EventSource !== 'function') return poll(gen, Date.now());
  let failures = 0;
  const source = new EventSource('/api/events');
  stream = source;
  source.addEventListener('message', (e) => {
    failures = 0;
    received(e.data);
  });
  source.addEventListener('error', () => {
    // CLOSED: the agent refused the stream (e.g. too many open pages); twice in a row without a
    // message: something on the way breaks it. Either way, ask instead.
    if (source.readyState !== EventSource.CLOSED && ++failures < 2) return;
    source.close();
    if (stream === source) stream = null;
    if (gen === generation) poll(gen, Date.now());
  });
}

async function poll(gen, since) {
  try {
    const response = await fetch('/api/status', { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    if (gen === generation) received(await response.text());
  } catch {
    // Shown by the staleness check.
  }
  if (gen !== generation) return;
  if (Date.now() - since > RETRY_STREAM_MS && Date.now() - lastData < POLL_MS * 2 && typeof EventSource === 'function') openStream(gen);
  else pollTimer = setTimeout(() => poll(gen, since), POLL_MS);
}

function start() {
  stop();
  lastData = Date.now();
  openStream(generation);
  staleTimer = setInterval(() => {
    if (Date.now() - lastData > STALE_MS) byId('connection-lost').hidden = false;
  }, 1000);
}

function stop() {
  generation++;
  if (stream) stream.close();
  stream = null;
  clearTimeout(pollTimer);
  clearInterval(staleTimer);
}

document.addEventListener('visibilitychange', () => (document.hidden ? stop() : start()));
if (!document.hidden) start();
`;
