// The PEM files named in a `tls` section: checked when the config is loaded, in the step after
// validation that also reads the secrets (check-config, reload, config pushes), read again when the
// link connects. Before, check-config said OK to a CA path that
// did not exist or to a DER file, and `run` then failed at the first connect.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { TlsConfig } from '../config/primitives.ts';
import { AgentError, ExitCode } from '../errors.ts';

type TlsField = 'ca' | 'cert' | 'key';

export interface TlsFileProblem {
  field: TlsField;
  /** "expected …, found …", naming the file. */
  message: string;
}

/** A CA bundle of the whole system store is about 200 KB; beyond this it is not a PEM file (or is /dev/zero). */
const MAX_PEM_BYTES = 1024 * 1024;

/** Reads the PEM files named in a `tls` section; a missing file is a config problem the technician must fix. */
export function readTls(tls: TlsConfig): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean } {
  const read = (field: TlsField) => {
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

/**
 * What the TLS layer would refuse at connect, found now: a file that cannot be read, is not PEM,
 * holds the wrong kind of block (cert and key swapped), does not parse, is an encrypted key (there
 * is no passphrase setting), or a key that is not the certificate's.
 */
export function tlsFileProblems(tls: Pick<TlsConfig, TlsField>): TlsFileProblem[] {
  const problems: TlsFileProblem[] = [];
  const fail = (field: TlsField, message: string): undefined => {
    problems.push({ field, message });
    return undefined;
  };
  const certificate = (field: 'ca' | 'cert', path: string): X509Certificate | undefined => {
    const expected = field === 'ca' ? 'a PEM file of CA certificates ("-----BEGIN CERTIFICATE-----")' : 'a PEM certificate file ("-----BEGIN CERTIFICATE-----")';
    const text = readPem(path);
    if (typeof text !== 'string') return fail(field, `expected ${expected}, found ${text.found}`);
    const blocks = pemBlocks(text).filter((block) => block.label === 'CERTIFICATE' || block.label === 'TRUSTED CERTIFICATE');
    if (blocks.length === 0) return fail(field, `expected ${expected}, found ${describeOtherContent(text, path, 'x509')}`);
    let first: X509Certificate | undefined;
    for (const [index, block] of blocks.entries()) {
      // "TRUSTED CERTIFICATE" is OpenSSL's own form: TLS reads it, X509Certificate does not.
      if (block.label !== 'CERTIFICATE') continue;
      try {
        const parsed = new X509Certificate(block.text);
        first ??= parsed;
      } catch (err) {
        return fail(field, `expected ${expected}, found certificate ${index + 1} in ${path} damaged (${(err as Error).message})`);
      }
    }
    return first;
  };
  const privateKey = (path: string): KeyObject | undefined => {
    const expected = 'a PEM private key file ("-----BEGIN PRIVATE KEY-----")';
    const text = readPem(path);
    if (typeof text !== 'string') return fail('key', `expected ${expected}, found ${text.found}`);
    // An EC key often comes after an "EC PARAMETERS" block: the key is the block that says so.
    const block = pemBlocks(text).find((b) => b.label.endsWith('PRIVATE KEY'));
    if (!block) return fail('key', `expected ${expected}, found ${describeOtherContent(text, path, 'pkey')}`);
    if (block.label === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: 4,ENCRYPTED/m.test(block.text)) {
      return fail('key', `expected ${expected} without a passphrase (the agent has none to give), found an encrypted key in ${path}; decrypt it with: openssl pkey -in ${path} -out key.pem`);
    }
    try {
      return createPrivateKey(block.text);
    } catch (err) {
      return fail('key', `expected ${expected}, found a damaged key in ${path} (${(err as Error).message})`);
    }
  };
  if (tls.ca) certificate('ca', tls.ca);
  const cert = tls.cert ? certificate('cert', tls.cert) : undefined;
  const key = tls.key ? privateKey(tls.key) : undefined;
  if (cert && key && !cert.checkPrivateKey(key)) {
    fail('key', `expected the private key of the certificate in cloud.tls.cert (${tls.cert}), found a key in ${tls.key} that does not match it`);
  }
  return problems;
}

function readPem(path: string): string | { found: string } {
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) return { found: `a directory at ${path}` };
    if (!stat.isFile()) return { found: `${path}, which is not a regular file` };
    if (stat.size > MAX_PEM_BYTES) return { found: `a file of ${stat.size} bytes at ${path}, too large for a PEM file` };
    const text = readFileSync(path, 'latin1');
    return text.trim() === '' ? { found: `an empty file at ${path}` } : text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { found: code === 'ENOENT' ? `no file at ${path}` : code === 'EACCES' ? `${path} unreadable (permission denied)` : `${code ?? String(err)} reading ${path}` };
  }
}

interface PemBlock {
  label: string;
  text: string;
}

function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)].map((match) => ({ label: match[1]!, text: match[0] }));
}

/** Says what is there instead: the other kind of PEM block (cert and key swapped), or no PEM at all (DER). */
function describeOtherContent(text: string, path: string, tool: 'x509' | 'pkey'): string {
  const labels = [...new Set(pemBlocks(text).map((block) => block.label))];
  if (labels.length > 0) return `only ${labels.map((label) => `"${label}"`).join(', ')} in ${path}`;
  return `no PEM block in ${path} (if it is DER, convert it with: openssl ${tool} -inform der -in ${path} -out ${path}.pem)`;
}
