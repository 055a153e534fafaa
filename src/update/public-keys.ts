// The operator's Ed25519 public keys, as the config writes them: the raw 32-byte key in base64 (one
// line, easy to paste into JSON over SSH) or a PEM SubjectPublicKeyInfo block (what
// `openssl pkey -pubout` prints). RFC 8410 fixes the DER prefix of an Ed25519 SPKI, so the raw
// form is wrapped into it rather than parsed by hand.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface ParsedPublicKey {
  key: KeyObject;
  /** Short, stable name for logs and replies: the first 8 bytes of SHA-256 over the raw key, in hex. */
  id: string;
}

export function parsePublicKey(text: string): ParsedPublicKey | { problem: string } {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) key = createPublicKey(trimmed);
    else {
      const raw = Buffer.from(trimmed, 'base64');
      if (raw.length !== 32 || !/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) return { problem: `expected an Ed25519 public key (44 base64 characters, or a PEM "PUBLIC KEY" block), found ${trimmed.length} characters` };
      key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    }
  } catch (error) {
    return { problem: `expected an Ed25519 public key, found one that does not parse (${(error as Error).message})` };
  }
  if (key.asymmetricKeyType !== 'ed25519') return { problem: `expected an Ed25519 public key, found a${key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'ec' ? 'n' : ''} ${key.asymmetricKeyType ?? 'unknown'} key` };
  return { key, id: keyId(key) };
}

export function keyId(key: KeyObject): string {
  const raw = key.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length);
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** The raw key in base64: how the config and the signing tool write it. */
export function publicKeyLine(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length).toString('base64');
}
