// The status page (issue #24) in a real headless browser: Debian's Chromium, driven by
// playwright-core, against the real agent with a sensor on a pty and a real Mosquitto. It shows the
// link state, the outbox depth and the sensor's last value, follows the broker going away, and says
// when the agent itself is gone. Screenshots are kept in test-artifacts/ for a human to look at.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { openDevice, ptyPair, type PtyPair } from '../helpers/pty-pair.ts';
import { waitUntil } from '../helpers/wait.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const LINE = '{"temperature": 21.5, "door": "closed"}\n';


const skip = existsSync(CHROMIUM) ? false : `no headless browser: ${CHROMIUM} is missing (apt-get install chromium; scripts/test.sh installs it)`;

describe('status page in a headless browser', { timeout: 120_000, skip }, () => {
  let broker: Mosquitto;
  let pty: PtyPair;
  let device: Awaited<ReturnType<typeof openDevice>>;
  let agent: AgentProcess;
  let browser: Browser;
  let page: Page;
  let base: string;
  /** Everything the page asked for, and what the browser complained about (CSP violations, script errors). */
  const requests: string[] = [];
  const problems: string[] = [];

  const text = async (selector: string) => ((await page.locator(selector).textContent({ timeout: 1000 }).catch(() => null)) ?? '').trim();
  const waitForText = async (selector: string, check: (t: string) => boolean, timeoutMs: number, what: string) => {
    let last = '';
    await waitUntil(async () => check((last = await text(selector))), timeoutMs, () => `${what} (${selector} reads ${JSON.stringify(last)})`, 200);
    return last;
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    broker = await startMosquitto();
    pty = await ptyPair();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    agent = startAgent({
      // The smallest keepalive, so a broker that vanishes without a word is noticed quickly too.
      cloud: { provider: 'mqtt', url: broker.url, keepalive: 5, reconnectMax: '1s' },
      sensors: [{ id: 'boiler', type: 'serial-line', port: pty.sensorPath, decoder: { type: 'json' } }],
      // On loopback the page needs no token.
      health: { http: { listen: `127.0.0.1:${port}` } },
    });
    await agent.waitForLog((l) => l.event === 'health-http-listening');
    await agent.waitForLog((l) => l.event === 'serial-opened' && l.port === pty.sensorPath);
    await agent.waitForLog((l) => l.event === 'connected');
    device = await openDevice(pty);
    await device.send(LINE);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await device?.close();
    await agent?.cleanup();
    await pty?.cleanup();
    await broker?.cleanup();
  });

  it('shows the link, the outbox depth and the last value, follows the broker going away, and says when the agent is gone', async () => {
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    const response = await page.goto(`${base}/`);
    assert.ok(response, 'the page answered');
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'] ?? '', /default-src 'self'/);

    await waitForText('#link-state', (t) => t === 'connected', 15_000, 'the page to show the link connected');
    // A line sent before the sensor's side of the pty was fully open is lost with it (see
    // serial-line.test.ts): the device repeats its line until the page shows it.
    let sentAt = Date.now();
    await waitForText(
      '#sensor-boiler',
      (t) => {
        if (Date.now() - sentAt > 2000) {
          sentAt = Date.now();
          void device.send(LINE);
        }
        return /temperature\s*21\.5/.test(t);
      },
      15_000,
      "the boiler's last value on the page",
    );
    assert.match(await text('#sensor-boiler'), /door\s*closed/);
    assert.match(await waitForText('#outbox-pending', (t) => /^\d+$/.test(t), 5000, 'the outbox depth as a number'), /^\d+$/);
    assert.notEqual(await text('#updated'), 'never');
    assert.equal(await page.locator('#connection-lost').isVisible(), false, 'no "connection lost" while the agent answers');
    assert.ok(await page.locator('#trend-line').getAttribute('points'), 'the trend chart has points');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });

    // A phone: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 780 });
    assert.equal(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), true, 'no sideways scrolling on a 360 px wide screen');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    const updatedBefore = await text('#updated');
    await broker.stop();
    const state = await waitForText('#link-state', (t) => t !== '' && t !== 'connected', 30_000, 'the page to show the link no longer connected once the broker stopped');
    assert.match(state, /^(connecting|disconnected)$/);
    await waitForText('#updated', (t) => t !== updatedBefore, 5000, 'the update time to move on');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-link-down.png'), fullPage: true });

    // Nothing but the agent's own address, and no CSP violation or script error while it answered.
    assert.deepEqual(
      requests.filter((url) => !url.startsWith(`${base}/`)),
      [],
      'the page loads nothing from anywhere else',
    );
    assert.deepEqual(problems, [], 'the browser reported no errors (a CSP violation would be one)');

    await agent.stop();
    await waitUntil(() => page.locator('#connection-lost').isVisible(), 15_000, 'the page to say the connection to the agent is lost', 200);
    assert.equal(await text('#connection-lost'), 'connection to the agent lost');
  });
});
