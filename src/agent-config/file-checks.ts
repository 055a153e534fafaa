// The files a config names besides its secrets: the TLS certificates and keys of each destination
// and the update server's CA. Checked in the step after validation that reads the secrets, so
// parsing stays pure (redaction validates without touching the gateway's files) while check-config
// still refuses a certificate path that the first connect, or the first download months later,
// would fail to read.
import type { JsonPath } from '../config/locate.ts';
import { tlsFileProblems } from '../cloud/tls-files.ts';
import type { AgentConfig } from './schema.ts';

export interface FileProblem {
  path: JsonPath;
  message: string;
}

export function configFileProblems(config: AgentConfig): FileProblem[] {
  const problems: FileProblem[] = [];
  // At their place in the file: "clouds" when there are several, else the one "cloud".
  const sections: [JsonPath, AgentConfig['cloud']][] = config.clouds ? config.clouds.map((cloud, index) => [['clouds', index], cloud]) : [[['cloud'], config.cloud]];
  for (const [path, cloud] of sections) {
    if (!cloud.tls) continue;
    for (const problem of tlsFileProblems(cloud.tls)) problems.push({ path: [...path, 'tls', problem.field], message: problem.message });
  }
  // The update server's CA is read as a cloud's CA is: bounded, parsed, each certificate checked.
  const updateCa = config.update.tls.ca;
  if (updateCa !== undefined) for (const problem of tlsFileProblems({ ca: updateCa })) problems.push({ path: ['update', 'tls', problem.field], message: problem.message });
  return problems;
}
