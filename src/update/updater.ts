// agent.update, from the command to the restart, and the health gate after it. The command is
// answered at once (202: downloading); the outcome follows as a late reply to the same command,
// from this process when the update is refused, or from the next one: the new version once it has
// connected, or the previous one after a rollback. Every step is on record in state.json first, so
// a restart or a power cut at any point resumes or undoes it (launch-decision.ts).
import { chmodSync, mkdirSync, readFileSync, renameSync, statfsSync } from 'node:fs';
import { fsyncDirectory } from '../config/write.ts';
// The three functions, not the package's index, which builds every range and class at start.
import semverEq from 'semver/functions/eq.js';
import semverLt from 'semver/functions/lt.js';
import semverValid from 'semver/functions/valid.js';
import type { Logger } from '../log.ts';
import { AGENT_VERSION } from '../version.ts';
import type { UpdateConfig } from './config.ts';
import { download as downloadFile, DownloadError, removeDownload } from './download.ts';
import { parsePublicKey, type ParsedPublicKey } from './public-keys.ts';
import { UpdateStore, type LastUpdate, type Requester, type Trial, type UpdateParams, type UpdateReport, type UpdateState } from './state.ts';
import { UpdateRefused, verifyBinary } from './verify.ts';

/** An answer to agent.update, in cloud-neutral terms: 202 accepted (outcome later), 200, or a refusal. */
export interface UpdateAnswer {
  status: number;
  data?: Record<string, unknown>;
  message?: string;
}

export interface UpdaterOptions {
  config: UpdateConfig;
  dataDir: string;
  log: Logger;
  /** Hands a late outcome to the destination the command came from (false: that destination is no longer configured). */
  report: (report: UpdateReport) => boolean;
  requestRestart: (reason: string) => void;
  /** The running single binary; undefined when running from source, which cannot replace itself. */
  selfPath: string | undefined;
  arch?: string;
  now?: () => number;
  download?: typeof downloadFile;
}

export interface UpdateStatus {
  running: string;
  state: 'idle' | 'downloading' | 'verifying' | 'installing' | 'trial';
  version?: string;
  received?: number;
  total?: number;
  last?: LastUpdate;
}

const MAX_REPORTS = 16;
/** Left free on the data dir's file system after a download, for the outbox and the logs. */
const FREE_SPACE_RESERVE_BYTES = 64 * 1024 * 1024;

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export class Updater {
  #o: UpdaterOptions;
  readonly #store: UpdateStore;
  #keys: ParsedPublicKey[];
  readonly #now: () => number;
  readonly #abort = new AbortController();
  #status: UpdateStatus = { running: AGENT_VERSION, state: 'idle' };
  #trial: Trial | undefined;
  #deadline: NodeJS.Timeout | undefined;

  constructor(options: UpdaterOptions) {
    this.#o = options;
    this.#store = new UpdateStore(options.dataDir);
    this.#now = options.now ?? Date.now;
    this.#keys = parseKeys(options.config);
  }

  /** A reloaded config (new keys, a new confirmWithin) applies to the next update; one in progress goes on. */
  configure(config: UpdateConfig): void {
    this.#o = { ...this.#o, config };
    this.#keys = parseKeys(config);
  }

  /** After the pipeline is up: deliver outcomes still owed, resume an update cut short, and start the health gate when this binary is on trial. */
  start(): void {
    const state = this.#store.read();
    this.#status.last = state.last;
    if (state.trial && state.trial.path === this.#o.selfPath) {
      this.#trial = state.trial;
      this.#status = { ...this.#status, state: 'trial', version: state.trial.version };
      this.#deadline = setTimeout(() => this.#trialFailed(), state.trial.confirmWithinMs);
      this.#o.log.info({ event: 'update-trial', version: state.trial.version, from: state.trial.from }, `running ${AGENT_VERSION} on trial: confirmed once a cloud is connected, rolled back to ${state.trial.from} if none is within ${Math.round(state.trial.confirmWithinMs / 1000)} s`);
    }
    this.flushReports();
    if (state.job && !state.trial) void this.#run(state.job.params, state.job.requester, true);
  }

  stop(): void {
    clearTimeout(this.#deadline);
    this.#abort.abort(new Error('the agent is stopping'));
  }

  status(): UpdateStatus {
    return { ...this.#status };
  }

  /** The last update's outcome, for clouds that keep device state (Azure reported properties). */
  lastOutcome(): LastUpdate | undefined {
    return this.#status.last;
  }

  /** A cloud is connected: the health gate of a trial is passed. */
  linkUp(): void {
    const trial = this.#trial;
    if (!trial) return;
    this.#trial = undefined;
    clearTimeout(this.#deadline);
    const last: LastUpdate = { version: trial.version, from: trial.from, outcome: 'installed', at: this.#now() };
    const result = { ok: true, status: 200, data: { version: trial.version, from: trial.from, outcome: 'installed' } };
    this.#finish((state) => ({ ...state, active: { version: trial.version, path: trial.path, sha256: trial.sha256 }, trial: undefined }), trial.requester, result, last);
    this.#status.state = 'idle';
    this.#o.log.info({ event: 'update-confirmed', version: trial.version, from: trial.from }, `update to ${trial.version} confirmed: it started, opened its outbox and connected`);
  }

  request(params: UpdateParams, requester: Requester): UpdateAnswer {
    const refusal = this.#refusal(params);
    if (refusal) {
      this.#o.log.warn({ event: 'update-refused', version: params.version, status: refusal.status, reason: refusal.message }, `agent.update refused: ${refusal.message}`);
      return refusal;
    }
    if (semverEq(params.version, AGENT_VERSION)) return { status: 200, data: { version: AGENT_VERSION, outcome: 'already-running' } };
    const job = this.#store.read().job;
    // The same update asked for again (another command id): one download, its outcome to the first asker.
    if (job) return { status: 202, data: { state: 'downloading', version: job.params.version, from: AGENT_VERSION, reportsTo: job.requester.command.id } };
    this.#store.update((state) => ({ ...state, job: { requester, params, acceptedAt: this.#now() } }));
    this.#o.log.info({ event: 'update-accepted', version: params.version, from: AGENT_VERSION, url: urlForLog(params.url) }, `agent.update to ${params.version} accepted: downloading ${urlForLog(params.url)}`);
    void this.#run(params, requester, false);
    return { status: 202, data: { state: 'downloading', version: params.version, from: AGENT_VERSION } };
  }

  #refusal(params: UpdateParams): UpdateAnswer | undefined {
    if (this.#keys.length === 0) return { status: 403, message: 'this gateway accepts no agent updates: update.publicKeys is empty in its config (add the public key the binaries are signed with)' };
    if (!this.#o.selfPath) return { status: 409, message: 'this agent runs from source (node), not as the installed single binary, so it cannot replace itself' };
    if (!params.url.startsWith('https://')) return { status: 400, message: 'url: expected an https:// URL (the download must be over TLS)' };
    if (semverValid(params.version) === null) return { status: 400, message: `version: expected a semantic version such as 1.4.0, found "${params.version.slice(0, 64)}"` };
    if (Buffer.from(params.signature, 'base64').length !== 64) return { status: 400, message: 'signature: expected the 64-byte Ed25519 signature in base64 (88 characters)' };
    const state = this.#store.read();
    if (state.job && state.job.params.sha256.toLowerCase() !== params.sha256.toLowerCase()) return { status: 409, message: `an update to ${state.job.params.version} is in progress; wait for its outcome` };
    if (state.trial && state.trial.path !== this.#o.selfPath) return { status: 409, message: `${state.trial.version} is installed and waiting to start` };
    if (this.#trial) return { status: 409, message: `${AGENT_VERSION} is on trial (not yet confirmed); try again once it is` };
    if (semverLt(params.version, AGENT_VERSION) && params.allowDowngrade !== true) return { status: 409, message: `${params.version} is older than the running ${AGENT_VERSION}: send "allowDowngrade": true to downgrade` };
    return undefined;
  }

  async #run(params: UpdateParams, requester: Requester, resumed: boolean): Promise<void> {
    const sha256 = params.sha256.toLowerCase();
    const file = this.#store.downloadPath(sha256);
    const { version } = params;
    try {
      this.#store.removeUnused(this.#store.read(), file);
      mkdirSync(this.#store.downloadsDir, { recursive: true, mode: 0o700 });
      this.#status = { ...this.#status, state: 'downloading', version };
      let loggedQuarter = 0;
      if (resumed) this.#o.log.info({ event: 'update-resumed', version }, `resuming the download of ${version} after a restart`);
      const fetched = await (this.#o.download ?? downloadFile)({
        url: params.url,
        file,
        maxBytes: this.#o.config.maxBytes,
        ...(this.#o.config.tls.ca ? { ca: readFileSync(this.#o.config.tls.ca) } : {}),
        rejectUnauthorized: this.#o.config.tls.rejectUnauthorized,
        signal: this.#abort.signal,
        onProgress: (received, total) => {
          this.#status = { ...this.#status, received, ...(total === undefined ? {} : { total }) };
          const quarter = total ? Math.floor((received / total) * 4) : 0;
          if (quarter > loggedQuarter && quarter < 4) {
            loggedQuarter = quarter;
            this.#o.log.info({ event: 'update-progress', version, received, total }, `downloading ${version}: ${quarter * 25}% (${received} of ${total} bytes)`);
          }
        },
        fits: (needed) => this.#roomFor(needed),
        onRetry: ({ attempt, offset, reason, delayMs }) =>
          this.#o.log.warn({ event: 'update-download-retry', version, attempt, offset, reason, delayMs }, `download of ${version} cut at ${offset} bytes (${reason}); resuming from there in ${Math.round(delayMs / 1000)} s`),
      });
      this.#o.log.info({ event: 'update-downloaded', version, bytes: fetched.bytes, attempts: fetched.attempts, resumedAt: fetched.resumedAt }, `downloaded ${version}: ${fetched.bytes} bytes in ${fetched.attempts} attempt(s)`);
      this.#status.state = 'verifying';
      // Executable by the service user only (the directory is 0700 already): the last check runs `<file> version`.
      chmodSync(file, 0o750);
      const { keyId } = await verifyBinary(file, { sha256, signature: params.signature, version, maxBytes: this.#o.config.maxBytes, arch: this.#o.arch ?? process.arch, keys: this.#keys });
      this.#status.state = 'installing';
      await this.#install(params, requester, file, keyId);
    } catch (error) {
      if (this.#abort.signal.aborted) return; // stopping: the job stays on record and resumes at the next start
      const refused = error instanceof UpdateRefused;
      const permanent = refused || (error instanceof DownloadError && error.permanent);
      if (permanent) await removeDownload(file);
      const why = error instanceof Error ? error.message : String(error);
      const message = refused ? `update to ${version} refused: ${why}; nothing was installed` : `update to ${version} failed: ${why}; nothing was installed${permanent ? '' : ' (what was downloaded is kept: send the command again to resume)'}`;
      this.#o.log.error({ event: refused ? 'update-refused' : 'update-failed', version, reason: why }, message);
      this.#status.state = 'idle';
      const last: LastUpdate = { version, from: AGENT_VERSION, outcome: refused ? 'refused' : 'failed', message: why, at: this.#now() };
      this.#finish((state) => ({ ...state, job: undefined }), requester, { ok: false, status: refused ? 422 : 502, message, data: { version: AGENT_VERSION, failedVersion: version, outcome: last.outcome } }, last);
    }
  }

  /** The outbox shares the card: a download must leave it room to keep storing readings. */
  #roomFor(needed: number): string | undefined {
    const fs = statfsSync(this.#store.downloadsDir);
    const free = fs.bavail * fs.bsize;
    if (free - needed >= FREE_SPACE_RESERVE_BYTES) return undefined;
    return `the file needs ${mb(needed)} more and ${mb(free)} is free in ${this.#store.downloadsDir}: the download would leave less than ${mb(FREE_SPACE_RESERVE_BYTES)} for the outbox`;
  }

  /** The checked file becomes the trial binary; the restart hands over to the launcher, which starts it. */
  async #install(params: UpdateParams, requester: Requester, file: string, keyId: string): Promise<void> {
    const sha256 = params.sha256.toLowerCase();
    const target = this.#store.versionPath(params.version, sha256);
    mkdirSync(this.#store.versionsDir, { recursive: true, mode: 0o700 });
    renameSync(file, target);
    await removeDownload(file);
    fsyncDirectory(this.#store.versionsDir);
    const state = this.#store.update((s) => ({
      ...s,
      job: undefined,
      trial: { version: params.version, path: target, sha256, from: AGENT_VERSION, previous: s.active, confirmWithinMs: this.#o.config.confirmWithin, starts: 0, requester },
    }));
    this.#store.removeUnused(state);
    this.#o.log.info({ event: 'update-installed', version: params.version, from: AGENT_VERSION, key: keyId, path: target }, `update to ${params.version} verified (signed by key ${keyId}) and installed as ${target}: restarting into it`);
    this.#o.requestRestart(`agent.update to ${params.version}`);
  }

  #trialFailed(): void {
    const trial = this.#trial;
    if (!trial) return;
    this.#trial = undefined;
    const reason = `it did not connect to a cloud within update.confirmWithin (${Math.round(trial.confirmWithinMs / 1000)} s)`;
    const message = `update to ${trial.version} rolled back: ${reason}; running ${trial.from} again`;
    const last: LastUpdate = { version: trial.version, from: trial.from, outcome: 'rolled-back', message: reason, at: this.#now() };
    // Reported by the previous version: this one cannot reach the cloud.
    this.#finish((state) => ({ ...state, trial: undefined, active: trial.previous }), trial.requester, { ok: false, status: 500, message, data: { version: trial.from, failedVersion: trial.version, outcome: 'rolled-back' } }, last, false);
    this.#o.log.error({ event: 'update-rolled-back', version: trial.version, from: trial.from }, message);
    this.#o.requestRestart(`rolling back to ${trial.from}`);
  }

  /** Records the outcome (and the report owed to the cloud that asked), then delivers what can be. */
  #finish(change: (state: UpdateState) => UpdateState, requester: Requester | undefined, result: UpdateReport['result'], last: LastUpdate, deliver = true): void {
    this.#status.last = last;
    this.#store.update((state) => {
      const next = change(state);
      return { ...next, last, reports: requester ? [...next.reports.slice(-(MAX_REPORTS - 1)), { ...requester, result }] : next.reports };
    });
    if (deliver) this.flushReports();
  }

  /** Hands every owed outcome to its destination (which sends it or keeps it in the outbox), then forgets it. */
  flushReports(): void {
    const state = this.#store.read();
    if (state.reports.length === 0) return;
    for (const report of state.reports) {
      if (!this.#o.report(report)) this.#o.log.warn({ event: 'update-report-dropped', destination: report.destination }, `the outcome of command ${report.command.id} cannot be reported: destination "${report.destination}" is no longer configured`);
    }
    this.#store.write({ ...this.#store.read(), reports: [] });
  }
}

/** The host and path only: a query string may carry a token. */
export function urlForLog(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

function parseKeys(config: UpdateConfig): ParsedPublicKey[] {
  return config.publicKeys.map(parsePublicKey).filter((k): k is ParsedPublicKey => 'key' in k);
}
