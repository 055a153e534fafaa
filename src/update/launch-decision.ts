// Which binary `edge-agent run` becomes, decided from the update state before anything else starts.
// systemd always starts the launcher (ExecStart, the binary install.sh put in /usr/local/bin); it
// execs the installed update in its place, keeping the PID systemd watches. A binary on trial is
// started once: when the launcher meets it again, the trial exited, crashed, hung (the watchdog
// killed it) or the power failed before it confirmed, and the previous binary is put back. Pure:
// the state and the facts in, the next state and the action out (launch.ts does the I/O).
import type { Installed, UpdateState } from './state.ts';

export interface LauncherFingerprint {
  version: string;
  size: number;
  mtimeMs: number;
}

export interface Self {
  path: string;
  version: string;
  fingerprint: LauncherFingerprint;
  /** Whether a path exists (installed binaries live on a card that may have lost them). */
  exists: (path: string) => boolean;
  now: number;
}

export type LaunchAction = { kind: 'run'; asTrial: boolean } | { kind: 'exec'; path: string };

export interface LaunchDecision {
  action: LaunchAction;
  /** To be written before acting, when it changed. */
  next?: UpdateState;
  /** What happened, for the log. */
  note?: { event: string; message: string };
}

export function decideLaunch(state: UpdateState, self: Self): LaunchDecision {
  const { trial, active } = state;
  // The installed update itself (exec'd by the launcher, or started by hand): it runs as what it is.
  if (trial && trial.path === self.path) return { action: { kind: 'run', asTrial: true } };
  if (active && active.path === self.path) return { action: { kind: 'run', asTrial: false } };
  if (!trial && !active) return { action: { kind: 'run', asTrial: false } };

  if (state.launcher && !sameLauncher(state.launcher, self.fingerprint)) {
    // Someone installed a binary by hand (install.sh, a package): theirs wins over the remote update.
    const replaced = trial ?? active!;
    const next: UpdateState = { ...state, active: undefined, trial: undefined, launcher: self.fingerprint, last: { version: replaced.version, from: self.version, outcome: 'superseded', message: `${self.path} was replaced by version ${self.version} since`, at: self.now } };
    return { action: { kind: 'run', asTrial: false }, next, note: { event: 'update-superseded', message: `${self.path} (${self.version}) was installed by hand after the remote update to ${replaced.version}: running it, not the update` } };
  }

  if (trial) {
    if (trial.starts === 0 && self.exists(trial.path)) {
      return {
        action: { kind: 'exec', path: trial.path },
        next: { ...state, launcher: self.fingerprint, trial: { ...trial, starts: 1 } },
        note: { event: 'update-trial-start', message: `starting ${trial.version} on trial: it must connect within ${Math.round(trial.confirmWithinMs / 1000)} s or ${trial.from} comes back` },
      };
    }
    const reason = trial.starts === 0 ? `${trial.path} is missing` : `${trial.version} stopped before it confirmed (it exited, crashed, hung or the gateway restarted)`;
    const failure = { ok: false, status: 500, message: `update to ${trial.version} rolled back: ${reason}; running ${trial.from} again`, data: { version: trial.from, failedVersion: trial.version, outcome: 'rolled-back' } };
    const next: UpdateState = {
      ...state,
      launcher: self.fingerprint,
      trial: undefined,
      active: trial.previous,
      last: { version: trial.version, from: trial.from, outcome: 'rolled-back', message: reason, at: self.now },
      reports: trial.requester ? [...state.reports.slice(-15), { ...trial.requester, result: failure }] : state.reports,
    };
    return { action: target(trial.previous, self), next, note: { event: 'update-rolled-back', message: failure.message } };
  }

  if (active && !self.exists(active.path)) {
    const next: UpdateState = { ...state, active: undefined, last: { version: active.version, from: self.version, outcome: 'failed', message: `${active.path} is missing`, at: self.now } };
    return { action: { kind: 'run', asTrial: false }, next, note: { event: 'update-missing', message: `the installed update ${active.version} is missing (${active.path}): running ${self.version}` } };
  }
  return { action: target(active, self), ...(state.launcher ? {} : { next: { ...state, launcher: self.fingerprint } }) };
}

function target(installed: Installed | undefined, self: Self): LaunchAction {
  if (!installed || installed.path === self.path || !self.exists(installed.path)) return { kind: 'run', asTrial: false };
  return { kind: 'exec', path: installed.path };
}

function sameLauncher(a: LauncherFingerprint, b: LauncherFingerprint): boolean {
  return a.version === b.version && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
