// The status page's HTML (issue #24), served at / by src/health/status-page.ts. A string constant so
// the single binary carries it with no build step. Every value is filled in by app.js with
// textContent; nothing here is inline script or style, so "default-src 'self'" holds.
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>edge-agent status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<header>
<h1>edge-agent <span id="agent-id"></span></h1>
<p class="meta">version <span id="version">–</span> · up <span id="uptime">–</span> · updated <time id="updated">never</time></p>
</header>
<p id="connection-lost" class="banner" role="alert" hidden>connection to the agent lost</p>
<noscript><p class="banner">This page needs JavaScript to show the agent's status.</p></noscript>
<main>
<section aria-labelledby="h-link">
<h2 id="h-link">Cloud link</h2>
<p class="big"><span id="link-state" class="state">–</span></p>
<dl>
<dt>since</dt><dd id="link-since">–</dd>
<dt>provider</dt><dd id="link-provider">–</dd>
<dt>endpoint</dt><dd id="link-endpoint">–</dd>
<dt>last error</dt><dd id="link-error">–</dd>
</dl>
<div id="destinations" hidden>
<h3>Destinations</h3>
<ul id="destination-list" class="plain"></ul>
</div>
</section>
<section aria-labelledby="h-outbox">
<h2 id="h-outbox">Outbox</h2>
<p class="big"><span id="outbox-pending">–</span> <span class="unit">readings waiting</span></p>
<figure>
<svg id="trend" viewBox="0 0 300 80" preserveAspectRatio="none" role="img" aria-labelledby="trend-caption">
<line x1="0" y1="79" x2="300" y2="79" class="axis" vector-effect="non-scaling-stroke"/>
<polyline id="trend-line" points="" vector-effect="non-scaling-stroke"/>
</svg>
<figcaption id="trend-caption">Readings waiting over the last hour</figcaption>
</figure>
<dl>
<dt>drain rate</dt><dd id="outbox-drain">–</dd>
<dt>size</dt><dd id="outbox-bytes">–</dd>
<dt>oldest waiting</dt><dd id="outbox-oldest">–</dd>
<dt>dropped</dt><dd id="outbox-dropped">–</dd>
<dt>written to storage</dt><dd id="outbox-written">–</dd>
<dt>sent</dt><dd id="outbox-sent">–</dd>
</dl>
</section>
<section aria-labelledby="h-gateway">
<h2 id="h-gateway">Gateway</h2>
<dl>
<dt>CPU load (1 min)</dt><dd id="gateway-cpu">–</dd>
<dt>memory used</dt><dd id="gateway-mem">–</dd>
<dt>temperature</dt><dd id="gateway-temp">–</dd>
<dt>disk used</dt><dd id="gateway-disk">–</dd>
</dl>
</section>
<section class="wide" aria-labelledby="h-sensors">
<h2 id="h-sensors">Sensors</h2>
<div id="sensor-list" class="cards"></div>
</section>
<section class="wide" aria-labelledby="h-log">
<h2 id="h-log">Recent warnings and errors</h2>
<ol id="log-list" class="plain log"></ol>
</section>
</main>
</body>
</html>
`;
