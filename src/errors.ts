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

export class ConfigError extends AgentError {
  readonly file: string;
  readonly problems: ConfigProblem[];
  constructor(file: string, problems: ConfigProblem[]) {
    super(formatProblems(file, problems), ExitCode.config);
    this.file = file;
    this.problems = problems;
  }
}

function formatProblems(file: string, problems: ConfigProblem[]): string {
  const lines = problems.map((p) => {
    const where = p.line === undefined ? '' : ` (line ${p.line}, col ${p.column ?? 1})`;
    return `  ${p.path === '' ? '(file)' : p.path}${where}: ${p.message}`;
  });
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return `${file}: ${count}\n${lines.join('\n')}`;
}

/** The data directory cannot be created or written: nothing can be stored safely. */
export class DataDirError extends AgentError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.cantCreate, options);
  }
}
