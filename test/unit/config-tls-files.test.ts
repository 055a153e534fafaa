// Issue #16 (6): what `run` trips on at the first connect is refused by check-config, with the path,
// line and column of the setting, what was expected and what was found.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';
import { problemsOf } from '../helpers/config-refusal.ts';


/** The cloud section on line 3, its tls object starting at column 5 of line 4. */
function withTls(tls: Record<string, unknown>): string {
  return `{\n  "cloud": {\n    "provider": "mqtt", "url": "mqtts://127.0.0.1:8883",\n    "tls": ${JSON.stringify(tls)}\n  }\n}`;
}

describe('config: cloud.tls files', () => {
  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki.cleanup());

  it('accepts a readable CA, certificate and matching key', () => {
    const client = pki.client('gw1');
    const { config } = parseConfigText(withTls({ ca: pki.caPath, cert: client.certPath, key: client.keyPath }));
    assert.equal((config.cloud as { tls?: { ca?: string } }).tls?.ca, pki.caPath);
  });

  it('refuses a missing CA file with path, line, column, expected and found', () => {
    const missing = join(pki.dir, 'no-such-ca.pem');
    const error = problemsOf(withTls({ ca: missing }));
    assert.equal(error.problems.length, 1);
    const [problem] = error.problems;
    assert.equal(problem!.path, 'cloud.tls.ca');
    assert.equal(problem!.line, 4);
    assert.equal(problem!.column, 18);
    assert.match(problem!.message, /^expected a PEM file of CA certificates .*, found no file at .*no-such-ca\.pem$/);
  });

  it('refuses a DER certificate and says how to convert it', () => {
    const der = join(pki.dir, 'client.der');
    writeFileSync(der, Buffer.from(pki.cert.toString('latin1').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));
    const error = problemsOf(withTls({ cert: der, key: pki.keyPath }));
    assert.equal(error.problems[0]!.path, 'cloud.tls.cert');
    assert.match(error.problems[0]!.message, /found no PEM block in .*client\.der \(if it is DER, convert it with: openssl x509 -inform der/);
  });

  it('names swapped cert and key', () => {
    const error = problemsOf(withTls({ cert: pki.keyPath, key: pki.certPath }));
    assert.deepEqual(
      error.problems.map((p) => [p.path, p.message.replace(/ in \/\S+/, '')]),
      [
        ['cloud.tls.cert', 'expected a PEM certificate file ("-----BEGIN CERTIFICATE-----"), found only "PRIVATE KEY"'],
        ['cloud.tls.key', 'expected a PEM private key file ("-----BEGIN PRIVATE KEY-----"), found only "CERTIFICATE"'],
      ],
    );
  });

  it('refuses a damaged certificate, an empty file and a directory', () => {
    const damaged = join(pki.dir, 'damaged.pem');
    writeFileSync(damaged, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const empty = join(pki.dir, 'empty.pem');
    writeFileSync(empty, '\n');
    const error = problemsOf(withTls({ ca: damaged, cert: empty, key: pki.dir }));
    assert.deepEqual(error.problems.map((p) => p.path), ['cloud.tls.ca', 'cloud.tls.cert', 'cloud.tls.key']);
    assert.match(error.problems[0]!.message, /found certificate 1 in .*damaged\.pem damaged/);
    assert.match(error.problems[1]!.message, /found an empty file at /);
    assert.match(error.problems[2]!.message, /found a directory at /);
  });

  it('refuses an encrypted key (there is no passphrase setting)', () => {
    const encrypted = join(pki.dir, 'encrypted.key');
    writeFileSync(encrypted, createPrivateKey(pki.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }));
    const error = problemsOf(withTls({ cert: pki.certPath, key: encrypted }));
    assert.equal(error.problems[0]!.path, 'cloud.tls.key');
    assert.match(error.problems[0]!.message, /found an encrypted key in .*; decrypt it with: openssl pkey/);
  });

  it("refuses a key that is not the certificate's", () => {
    const client = pki.client('gw2');
    const error = problemsOf(withTls({ cert: pki.certPath, key: client.keyPath }));
    assert.equal(error.problems[0]!.path, 'cloud.tls.key');
    assert.match(error.problems[0]!.message, /^expected the private key of the certificate in cloud\.tls\.cert .*, found a key in .* that does not match it$/);
  });

  it('checks update.tls.ca as a cloud CA is checked: a key file is refused there, with its location', () => {
    const client = pki.client('gw1');
    const text = `{\n  "cloud": { "provider": "mqtt", "url": "mqtts://127.0.0.1:8883" },\n  "update": { "tls": { "ca": ${JSON.stringify(client.keyPath)} } }\n}`;
    const [problem, ...rest] = problemsOf(text).problems;
    assert.deepEqual(rest, []);
    assert.equal(problem!.path, 'update.tls.ca');
    assert.equal(problem!.line, 3);
    assert.match(problem!.message, /^expected a PEM file of CA certificates .*, found only "PRIVATE KEY" in .*client-gw1\.key$/);
    assert.equal(parseConfigText(text.replace(JSON.stringify(client.keyPath), JSON.stringify(pki.caPath))).config.update.tls.ca, pki.caPath);
  });
});

describe('config: health.http.listen', () => {
  for (const listen of ['127.0.0.1:99999', '127.0.0.1:65536', '127.0.0.1:0']) {
    it(`refuses ${listen}`, () => {
      const error = problemsOf(`{\n  "cloud": { "provider": "mqtt", "url": "mqtt://x" },\n  "health": { "http": { "listen": "${listen}" } }\n}`);
      assert.deepEqual(error.problems, [{ path: 'health.http.listen', line: 3, column: 35, message: `expected a port between 1 and 65535 in host:port such as "127.0.0.1:9880", found "${listen}"` }]);
    });
  }

  it('accepts ports 1 and 65535, and still explains a listen without a port', () => {
    for (const listen of ['0.0.0.0:1', 'localhost:65535']) parseConfigText(`{ "cloud": { "provider": "mqtt", "url": "mqtt://x" }, "health": { "http": { "listen": "${listen}" } } }`);
    const error = problemsOf('{ "cloud": { "provider": "mqtt", "url": "mqtt://x" }, "health": { "http": { "listen": "localhost" } } }');
    assert.deepEqual(error.problems.map((p) => p.message), ['expected host:port such as "127.0.0.1:9880", found "localhost"']);
  });
});
