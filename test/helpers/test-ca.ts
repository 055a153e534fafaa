// A throwaway certificate authority and server certificate for TLS tests, made with the openssl CLI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** A client certificate signed by the same CA (for X.509 client auth tests), CN = clientCn. */
  client(clientCn: string): { certPath: string; keyPath: string; cert: Buffer; key: Buffer };
  cleanup(): void;
}

/** Makes a CA and a server certificate valid for `hosts` (DNS names; 127.0.0.1 and localhost are always included). */
export function makeTestPki(hosts: string[] = []): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=edge-agent test CA');
  const san = ['DNS:localhost', 'IP:127.0.0.1', ...hosts.map((h) => `DNS:${h}`)].join(',');
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  const path = (name: string) => join(dir, name);
  return {
    dir,
    caPath: path('ca.pem'),
    certPath: path('server.pem'),
    keyPath: path('server.key'),
    ca: readFileSync(path('ca.pem')),
    cert: readFileSync(path('server.pem')),
    key: readFileSync(path('server.key')),
    client(clientCn: string) {
      const base = `client-${clientCn.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      writeFileSync(join(dir, `${base}.ext`), 'extendedKeyUsage=clientAuth\n');
      run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${clientCn}`);
      run('x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.pem`, '-days', '2', '-extfile', `${base}.ext`);
      return { certPath: path(`${base}.pem`), keyPath: path(`${base}.key`), cert: readFileSync(path(`${base}.pem`)), key: readFileSync(path(`${base}.key`)) };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
