// One line per check, with a fix a technician can type: what `edge-agent doctor` prints.
export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface CheckResult {
  status: CheckStatus;
  name: string;
  detail: string;
  fix?: string;
}

export const ok = (name: string, detail: string): CheckResult => ({ status: 'OK', name, detail });
export const warn = (name: string, detail: string, fix?: string): CheckResult => ({ status: 'WARN', name, detail, ...(fix ? { fix } : {}) });
export const fail = (name: string, detail: string, fix?: string): CheckResult => ({ status: 'FAIL', name, detail, ...(fix ? { fix } : {}) });

export function formatCheck(result: CheckResult): string {
  const head = `${result.status.padEnd(4)}  ${result.name}: ${result.detail}`;
  return result.fix && result.status !== 'OK' ? `${head}\n      fix: ${result.fix}` : head;
}

/** Exit code: non-zero when any check failed (warnings alone pass). */
export function doctorExitCode(results: CheckResult[]): number {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}
