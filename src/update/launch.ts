// The first thing `edge-agent run` does in the single binary: become the installed update when
// there is one (launch-decision.ts decides). Costs one small file read when there is no update.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { parse } from 'jsonc-parser';
import { pino } from 'pino';
import { createLogger } from '../log.ts';
import { AGENT_VERSION } from '../version.ts';
import { decideLaunch, type LauncherFingerprint } from './launch-decision.ts';
import { UpdateStore } from './state.ts';

const DEFAULT_DATA_DIR = '/var/lib/edge-agent';
/** The config is validated later, by the binary that runs; here only agent.dataDir is read, from at most this much. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export function isSingleBinary(): boolean {
  return process.getBuiltinModule('node:sea').isSea();
}

/** Returns when this binary is the one to run; otherwise the process becomes the installed update and never returns. */
export function launchInstalledUpdate(configPath: string): void {
  if (!isSingleBinary()) return;
  const store = new UpdateStore(dataDirOf(configPath));
  let state = store.read();
  if (!state.active && !state.trial) return;
  // Written synchronously: an exec replaces the process, and buffered lines would be lost.
  const log = createLogger({ destination: pino.destination({ fd: 1, sync: true }) }).child({ component: 'update' });
  const self = { path: process.execPath, version: AGENT_VERSION, fingerprint: fingerprint(process.execPath), exists: existsSync, now: Date.now() };
  // Twice at most: a trial that cannot be exec'd is rolled back at once.
  for (let attempt = 0; attempt < 2; attempt++) {
    const decision = decideLaunch(state, self);
    if (decision.next) {
      try {
        store.write(decision.next);
      } catch (error) {
        // Without the start on record, a failing trial would be retried forever: run this binary instead.
        log.error({ event: 'update-state-unwritable', err: error }, `cannot write ${store.dir}/state.json (${(error as Error).message}): running ${AGENT_VERSION}, not the update`);
        return;
      }
      state = decision.next;
    }
    if (decision.note) log.info({ event: decision.note.event }, decision.note.message);
    if (decision.action.kind === 'run') return;
    const { path } = decision.action;
    try {
      process.execve!(path, [path, ...ownArguments()], process.env);
    } catch (error) {
      log.error({ event: 'update-exec-failed', path, err: error }, `cannot start ${path}: ${(error as Error).message}`);
    }
  }
}

/** The command line systemd gave (run --config …), without argv[0]. */
function ownArguments(): string[] {
  const args = readFileSync('/proc/self/cmdline', 'utf8').split('\0');
  if (args.at(-1) === '') args.pop();
  return args.slice(1);
}

function fingerprint(path: string): LauncherFingerprint {
  const stat = statSync(path);
  return { version: AGENT_VERSION, size: stat.size, mtimeMs: Math.trunc(stat.mtimeMs) };
}

/** agent.dataDir, read leniently: a config this version cannot validate may be one the update understands. */
function dataDirOf(configPath: string): string {
  try {
    const fd = openSync(configPath, 'r');
    try {
      if (fstatSync(fd).size > MAX_CONFIG_BYTES) return DEFAULT_DATA_DIR;
      const config = parse(readFileSync(fd, 'utf8')) as { agent?: { dataDir?: unknown } } | undefined;
      const dir = config?.agent?.dataDir;
      return typeof dir === 'string' && dir.length > 0 ? dir : DEFAULT_DATA_DIR;
    } finally {
      closeSync(fd);
    }
  } catch {
    return DEFAULT_DATA_DIR;
  }
}
