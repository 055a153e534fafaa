import { readFileSync } from 'node:fs';
import type { TlsConfig } from '../config/primitives.ts';
import { AgentError, ExitCode } from '../errors.ts';

/** Reads the PEM files named in a `tls` section; a missing file is a config problem the technician must fix. */
export function readTls(tls: TlsConfig): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean } {
  const read = (field: 'ca' | 'cert' | 'key') => {
    const path = tls[field];
    if (!path) return {};
    try {
      return { [field]: readFileSync(path) };
    } catch (err) {
      throw new AgentError(`cloud.tls.${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, ExitCode.config, { cause: err });
    }
  };
  return { rejectUnauthorized: tls.rejectUnauthorized, ...read('ca'), ...read('cert'), ...read('key') };
}
