import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { elfArch } from '../../src/update/elf.ts';
import { parsePublicKey, publicKeyLine } from '../../src/update/public-keys.ts';

function header(machine: number, elfClass = 2, type = 2): Buffer {
  const h = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, elfClass, 1]).copy(h);
  h.writeUInt16LE(type, 16);
  h.writeUInt16LE(machine, 18);
  return h;
}

describe('ELF header', () => {
  it('names the CPU of 64-bit executables', () => {
    assert.deepEqual(elfArch(header(62)), { arch: 'x64' });
    assert.deepEqual(elfArch(header(183, 2, 3)), { arch: 'arm64' });
  });
  it('refuses what is not a 64-bit executable', () => {
    assert.match((elfArch(Buffer.from('#!/bin/sh\nrm -rf /\n')) as { problem: string }).problem, /not an executable/);
    assert.match((elfArch(header(40, 1)) as { problem: string }).problem, /32-bit/);
    assert.match((elfArch(header(62, 2, 1)) as { problem: string }).problem, /not an executable/);
  });
});

describe('update public keys', () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  it('reads the one-line base64 form and the PEM form alike', () => {
    const line = parsePublicKey(publicKeyLine(publicKey));
    const pem = parsePublicKey(publicKey.export({ format: 'pem', type: 'spki' }).toString());
    assert.ok('id' in line && 'id' in pem);
    assert.equal(line.id, pem.id);
    assert.match(line.id, /^[0-9a-f]{16}$/);
  });
  it('says what is wrong with anything else', () => {
    assert.match((parsePublicKey('abc') as { problem: string }).problem, /44 base64 characters/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    assert.match((parsePublicKey(rsa) as { problem: string }).problem, /found an rsa key/);
  });
});
