// Runs a configured script with parameters from the cloud. The program is started with execFile:
// no shell ever sees a parameter, so `; rm -rf /`, `$(...)` and backticks are just characters.
// Parameters must match their configured pattern in full and can only fill whole arguments.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ScriptConfig } from './config.ts';
import { CommandFailure } from './handler.ts';

export interface ScriptResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  ms: number;
}

/** Validates params against the script's declared ones; returns the argv to run. */
export function buildScriptArgs(name: string, script: ScriptConfig, params: Record<string, unknown>): string[] {
  for (const key of Object.keys(params)) {
    if (!(key in script.params)) throw new CommandFailure(400, `script ${name} takes no parameter "${key}" (allowed: ${Object.keys(script.params).join(', ') || 'none'})`);
  }
  const values: Record<string, string> = {};
  for (const [key, rule] of Object.entries(script.params)) {
    const value = params[key];
    if (value === undefined) {
      if (rule.required) throw new CommandFailure(400, `script ${name} needs parameter "${key}"`);
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new CommandFailure(400, `parameter "${key}" must be a string, number or boolean`);
    const text = String(value);
    // Anchored: a pattern like "[0-9]+" must not accept "1; rm -rf /".
    if (!new RegExp(`^(?:${rule.pattern})$`).test(text) || /[\0\n\r]/.test(text)) throw new CommandFailure(400, `parameter "${key}" does not match its allowed pattern ${rule.pattern}`);
    values[key] = text;
  }
  const argv: string[] = [];
  for (const arg of script.args) {
    const placeholder = /^\{([A-Za-z][A-Za-z0-9_]*)\}$/.exec(arg);
    if (!placeholder) argv.push(arg);
    else if (values[placeholder[1]!] !== undefined) argv.push(values[placeholder[1]!]!);
  }
  return argv;
}

export function runScript(script: ScriptConfig, argv: string[], signal: AbortSignal): Promise<ScriptResult> {
  const ids = script.user ? lookupUser(script.user) : {};
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      script.path,
      argv,
      {
        timeout: script.timeout,
        killSignal: 'SIGKILL',
        maxBuffer: script.maxOutput * 4,
        signal,
        // A minimal environment: the agent's own may hold secrets given as {"env": ...}.
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
        cwd: '/',
        windowsHide: true,
        ...ids,
      },
      (error, stdout, stderr) => {
        const err = error as (Error & { code?: number | string; signal?: string; killed?: boolean }) | null;
        if (err && typeof err.code === 'string') {
          reject(new CommandFailure(500, err.code === 'ENOENT' ? `script not found: ${script.path}` : err.code === 'EACCES' ? `script not executable: ${script.path}` : err.code === 'EPERM' ? `cannot run as user ${script.user}: the agent may not switch users` : `cannot run ${script.path}: ${err.message}`));
          return;
        }
        const cut = (text: string) => (Buffer.byteLength(text) > script.maxOutput ? Buffer.from(text).subarray(0, script.maxOutput).toString('utf8') : text);
        resolve({
          exitCode: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          signal: err?.signal ?? null,
          stdout: cut(stdout),
          stderr: cut(stderr),
          truncated: Buffer.byteLength(stdout) > script.maxOutput || Buffer.byteLength(stderr) > script.maxOutput,
          ms: Date.now() - started,
        });
      },
    );
  });
}

function lookupUser(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === user);
  if (!line) throw new CommandFailure(500, `user ${user} does not exist on this gateway`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
