// The operator's side of agent.update: make a signing key once, then sign each built binary and
// print the command to send. Keep the private key off the gateways (and off the build server, if you can).
//
//   node scripts/sign-update.ts keygen --out update-signing.key
//       writes an Ed25519 private key (PEM, mode 0600) and prints the public key for update.publicKeys
//   node scripts/sign-update.ts sign --key update-signing.key --url https://files.example.com/edge-agent-linux-arm64 dist/edge-agent-linux-arm64 [--version 1.4.0]
//       prints the agent.update command ({"name", "params": {url, sha256, signature, version}})
//
// The signature is plain Ed25519 (RFC 8032) over the file's bytes, the same as
//   openssl pkeyutl -sign -inkey update-signing.key -rawin -in <binary> | base64 -w0
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { publicKeyLine } from '../src/update/public-keys.ts';
import { AGENT_VERSION } from '../src/version.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string' }, key: { type: 'string' }, url: { type: 'string' }, version: { type: 'string' }, downgrade: { type: 'boolean' } },
});
const [action, binary] = positionals;

if (action === 'keygen') {
  if (!values.out) fail('keygen needs --out FILE (where the private key is written)');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(values.out, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  process.stdout.write(`private key written to ${values.out} (keep it secret and backed up)\npublic key, for "update": { "publicKeys": [ ... ] } in agent.config.json:\n${publicKeyLine(publicKey)}\n`);
} else if (action === 'sign') {
  if (!values.key || !values.url || !binary) fail('sign needs --key FILE --url URL and the binary to sign');
  if (!values.url.startsWith('https://')) fail(`--url ${values.url}: the agent downloads over https:// only`);
  const key = createPrivateKey(readFileSync(values.key));
  if (key.asymmetricKeyType !== 'ed25519') fail(`${values.key} is a ${key.asymmetricKeyType ?? 'unknown'} key; make an Ed25519 one with: node scripts/sign-update.ts keygen --out FILE`);
  const data = readFileSync(binary);
  const params = {
    url: values.url,
    sha256: createHash('sha256').update(data).digest('hex'),
    signature: sign(null, data, key).toString('base64'),
    version: values.version ?? AGENT_VERSION,
    ...(values.downgrade ? { allowDowngrade: true } : {}),
  };
  process.stderr.write(`signed ${basename(binary)} (${data.length} bytes, version ${params.version}) with the key whose public half is ${publicKeyLine(createPublicKey(key))}\n`);
  process.stdout.write(`${JSON.stringify({ name: 'agent.update', params }, null, 2)}\n`);
} else {
  fail('usage: sign-update.ts keygen --out FILE | sign --key FILE --url URL [--version V] [--downgrade] BINARY');
}

function fail(message: string): never {
  process.stderr.write(`sign-update: ${message}\n`);
  process.exit(2);
}
