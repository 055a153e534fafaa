import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storageWrittenBytes } from '../../src/status/storage-writes.ts';

describe('storage written bytes', () => {
  it('reads write_bytes from /proc/self/io, and says null where the kernel does not tell', () => {
    const io = 'rchar: 6976\nwchar: 512\nsyscr: 10\nsyscw: 1\nread_bytes: 0\nwrite_bytes: 1818624\ncancelled_write_bytes: 4096\n';
    assert.equal(storageWrittenBytes(() => io), 1_818_624);
    assert.equal(storageWrittenBytes(() => 'rchar: 1\n'), null);
    assert.equal(
      storageWrittenBytes(() => {
        throw Object.assign(new Error('no /proc'), { code: 'ENOENT' });
      }),
      null,
    );
    assert.equal(typeof storageWrittenBytes(), 'number', 'this Linux machine tells');
  });
});
