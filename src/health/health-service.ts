// Scheduled health telemetry and the local /health and /metrics endpoint.
import { createServer, type Server } from 'node:http';
import { schedule, type ScheduledTask } from 'node-cron';
import type { Logger } from '../log.ts';
import type { Reading } from '../sources/reading.ts';
import type { StatusSnapshot } from '../status/snapshot.ts';
import type { HealthConfig } from './config.ts';
import { sampleGateway, type GatewaySample, type SamplerSources } from './gateway-sampler.ts';
import { evaluateHealth, healthBody } from './health-check.ts';
import { buildPageData, type PageData, type ProblemLine } from './page-data.ts';
import { HISTORY_INTERVAL_MS, PageHistory } from './page-history.ts';
import { renderPrometheus } from './prometheus.ts';
import { StatusPage } from './status-page.ts';

/** A gateway sample older than this is taken again while the status page looks (telemetry off). */
const GATEWAY_SAMPLE_MAX_AGE_MS = 30_000;

export interface HealthServiceOptions {
  config: HealthConfig;
  dataDir: string;
  snapshot: () => StatusSnapshot;
  emit: (reading: Reading) => void;
  log: Logger;
  sources?: SamplerSources;
  /** What only the status page shows: each sensor's last reading, recent warnings and errors. */
  page?: { lastReadings: () => ReadonlyMap<string, Reading>; recentProblems: () => ProblemLine[] };
}

export const GATEWAY_SENSOR = 'gateway';

export class HealthService {
  readonly #o: HealthServiceOptions;
  readonly #log: Logger;
  #task: ScheduledTask | undefined;
  #server: Server | undefined;
  #latest: GatewaySample | undefined;
  #latestAt = 0;
  #sampling: Promise<void> | undefined;
  readonly #history = new PageHistory();
  #historyTimer: NodeJS.Timeout | undefined;
  #page: StatusPage | undefined;

  constructor(options: HealthServiceOptions) {
    this.#o = options;
    this.#log = options.log.child({ component: 'health' });
  }

  /** The last gateway sample (for Azure reported properties and /metrics). */
  latest(): GatewaySample | undefined {
    return this.#latest;
  }

  async start(): Promise<void> {
    if (this.#o.config.telemetry) {
      // Inline jobs: node-cron's background-process mode cannot work inside a single binary. Local
      // time comes from Date, not Intl (patches/node-cron+4.6.0.patch): no ICU data loaded, ~8 MB less RSS.
      this.#task = schedule(this.#o.config.schedule, () => this.sampleAndSend(), { name: 'gateway-health', noOverlap: true });
    }
    if (this.#o.config.http.enabled) {
      this.#historyTimer = setInterval(() => this.#history.record(this.#o.snapshot()), HISTORY_INTERVAL_MS);
      this.#historyTimer.unref();
      await this.#listen();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#historyTimer);
    this.#page?.close();
    await this.#task?.stop();
    this.#task = undefined;
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async sampleAndSend(): Promise<Reading> {
    const snapshot = this.#o.snapshot();
    let sample: GatewaySample = {};
    try {
      sample = await sampleGateway(this.#o.dataDir, this.#o.sources);
    } catch (error) {
      this.#log.warn({ event: 'health-sample-failed', err: error }, 'could not sample gateway health; sending agent metrics only');
    }
    this.#latest = sample;
    this.#latestAt = Date.now();
    const dropped = Object.values(snapshot.outbox.dropped).reduce((a, b) => a + b, 0);
    const reading: Reading = {
      sensorId: GATEWAY_SENSOR,
      ts: snapshot.now,
      values: {
        ...sample,
        'agent.rssBytes': process.memoryUsage.rss(),
        'outbox.pending': snapshot.outbox.pending,
        'outbox.oldestAgeS': snapshot.outbox.oldestTs === null ? 0 : Math.round((snapshot.now - snapshot.outbox.oldestTs) / 1000),
        'outbox.dropped': dropped,
        'outbox.bytes': snapshot.outbox.bytes,
        'link.reconnects': snapshot.link.reconnects,
        'link.publishRate': Math.round(snapshot.link.publishRate * 100) / 100,
        ...Object.fromEntries(
          Object.entries(snapshot.sensors).flatMap(([id, s]) => [
            [`sensor.${id}.readings`, s.readings],
            [`sensor.${id}.parseErrors`, s.parseErrors],
            // Where a report mode reduces, what it let through (with `every` it is `readings`).
            ...(s.report === 'every' ? [] : [[`sensor.${id}.reported`, s.reported]]),
          ]),
        ),
      },
      ...(snapshot.clockSynchronized ? {} : { clockUnsynced: true }),
    };
    this.#o.emit(reading);
    return reading;
  }

  /** The page's data: the snapshot and what the page keeps, and the gateway's last sample. */
  pageData(): PageData {
    const snapshot = this.#o.snapshot();
    return buildPageData(snapshot, {
      trend: [...this.#history.trend(), { t: snapshot.now, pending: snapshot.outbox.pending }],
      lastValues: this.#o.page?.lastReadings() ?? new Map(),
      rates: this.#history.rates(snapshot),
      gateway: this.#gatewayForPage(),
      log: this.#o.page?.recentProblems() ?? [],
    });
  }

  /** With telemetry on, the scheduled sample; otherwise one taken while a page looks, at most every 30 s. */
  #gatewayForPage(): GatewaySample | undefined {
    if (Date.now() - this.#latestAt > GATEWAY_SAMPLE_MAX_AGE_MS && !this.#sampling) {
      this.#sampling = sampleGateway(this.#o.dataDir, this.#o.sources)
        .then((sample) => {
          this.#latest = sample;
          this.#latestAt = Date.now();
        })
        .catch(() => undefined)
        .finally(() => (this.#sampling = undefined));
    }
    return this.#latest;
  }

  async #listen(): Promise<void> {
    const [host, port] = splitListen(this.#o.config.http.listen);
    const page = new StatusPage({ listen: this.#o.config.http.listen, token: this.#o.config.http.token, data: () => this.pageData() });
    this.#page = page;
    if (!page.available) this.#log.warn({ event: 'status-page-off', listen: this.#o.config.http.listen }, `the status page is off: ${this.#o.config.http.listen} is not a loopback address and health.http.token is not set (/health and /metrics are served)`);
    const server = createServer((req, res) => {
      const [path = '/', query = ''] = (req.url ?? '/').split('?');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (page.handle(req, res, path, new URLSearchParams(query))) return;
      if (path === '/health') {
        const snapshot = this.#o.snapshot();
        const verdict = evaluateHealth(snapshot, this.#o.config);
        const body = JSON.stringify(healthBody(snapshot, verdict));
        res.writeHead(verdict.healthy ? 200 : 503, { 'content-type': 'application/json' }).end(body);
      } else if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderPrometheus(this.#o.snapshot(), this.#latest));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /, /health or /metrics\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: NodeJS.ErrnoException) => {
      // A taken port must not stop the data path: report it and run without the endpoint.
      this.#log.error({ event: 'health-http-failed', listen: this.#o.config.http.listen, code: error.code }, `cannot serve /health and /metrics on ${this.#o.config.http.listen} (${error.code ?? error.message}); change health.http.listen`);
    });
    if (server.listening) {
      this.#server = server;
      this.#log.info({ event: 'health-http-listening', listen: this.#o.config.http.listen }, `serving ${page.available ? 'the status page (/), ' : ''}/health and /metrics on http://${this.#o.config.http.listen}`);
    }
  }
}

function splitListen(listen: string): [string, number] {
  const index = listen.lastIndexOf(':');
  return [listen.slice(0, index), Number(listen.slice(index + 1))];
}
