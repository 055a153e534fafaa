// Typed errors with messages a technician can act on, and the exit code each one maps to.

/** sysexits.h codes, so scripts and systemd can tell failures apart. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 64,
  unavailable: 69,
  software: 70,
  cantCreate: 73,
  ioError: 74,
  config: 78,
} as const;

export class AgentError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.failure, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

export interface ConfigProblem {
  /** JSON path such as sensors[1].baudRate, or "" for the whole file. */
  path: string;
  line?: number;
  column?: number;
  message: string;
}

/**
 * How many problems a ConfigError keeps and prints. A file with thousands of problems is usually
 * one mistake repeated (a pasted block, a wrong type in every sensor); the first screenful, in file
 * order, is what a technician acts on, and the reply to a cloud config push must stay one message.
 */
export const MAX_LISTED_PROBLEMS = 100;

export class ConfigError extends AgentError {
  readonly file: string;
  /** The first problems in file order, at most MAX_LISTED_PROBLEMS of them. */
  readonly problems: ConfigProblem[];
  /** How many problems were found in all; more than problems.length when the list was cut. */
  readonly total: number;
  /** `problems` in file order; `total` when the caller counted more problems than it passes. */
  constructor(file: string, problems: ConfigProblem[], total = problems.length) {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
    const all = Math.max(total, problems.length);
    super(formatProblems(file, listed, all), ExitCode.config);
    this.file = file;
    this.problems = listed;
    this.total = all;
  }
}

function formatProblems(file: string, problems: ConfigProblem[], total: number): string {
  const lines = problems.map((p) => {
    const where = p.line === undefined ? '' : ` (line ${p.line}, col ${p.column ?? 1})`;
    return `  ${p.path === '' ? '(file)' : p.path}${where}: ${p.message}`;
  });
  if (total > problems.length) lines.push(`  … and ${withCommas(total - problems.length)} more`);
  const count = total === 1 ? '1 problem' : `${withCommas(total)} problems`;
  return `${file}: ${count}\n${lines.join('\n')}`;
}

/** 19900 → "19,900", without loading locale data for it. */
function withCommas(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+$)/g, ',');
}

/** The data directory cannot be created or written: nothing can be stored safely. */
export class DataDirError extends AgentError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.cantCreate, options);
  }
}
