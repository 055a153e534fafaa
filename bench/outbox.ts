// Outbox throughput, fsyncs, size on disk and memory, on real SQLite files in a temp dir.
//   npx node bench/outbox.ts [readings]
// Prints figures only; it asserts nothing (the machine is shared, timings vary).
//
// Memory is measured the way the binary runs: this file bundled by esbuild (no TypeScript type
// stripping, which alone adds ~17 MB of RSS to a `node file.ts` process) and started with the
// binary's heap caps, in fresh processes that fill and then work a 1,000,000-reading backlog.
// bench/agent-memory.ts measures the whole agent binary holding and draining such a backlog.
//
// fsyncs: a commit of a few readings is one journal frame and one fdatasync (sqlite-outbox.ts); a
// commit of a full commitBatch (the bursts this bench makes) goes to SQLite directly, one rollback-
// journal transaction with synchronous=FULL: SQLite syncs its journal and the database file several
// times per transaction (https://www.sqlite.org/atomiccommit.html). The bench reports commits per
// second from stats().commits, and, when strace is installed, counts the fsync/fdatasync system calls
// of a child doing the same appends (strace -c).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { BINARY_HEAP_FLAGS } from '../scripts/binary/targets.ts';
import type { OutboxConfig } from '../src/outbox/config.ts';
import type { Outbox } from '../src/outbox/outbox.ts';
import { openOutbox } from '../src/outbox/sqlite-outbox.ts';
import { createLogger } from '../src/log.ts';

const mode = process.argv[2];
const total = Number((mode?.startsWith('--') ? process.argv[3] : mode) ?? 300_000);
const log = createLogger({ level: 'error' });
// The defaults of src/outbox/config.ts, written out so the memory figures do not include zod (~15 MB).
const config = (sync: 'full' | 'normal'): OutboxConfig => ({ commitInterval: 100, commitBatch: 1000, sync, order: 'oldest-first', maxBytes: 1 << 30, maxAge: 30 * 86_400_000, whenFull: 'drop-oldest', reservedBytes: 4 << 20 });
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function withOutbox<T>(sync: 'full' | 'normal', fn: (outbox: Outbox, dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-outbox-bench-'));
  try {
    const outbox = openOutbox({ dataDir: dir, agentId: 'bench', config: config(sync), log });
    try {
      return fn(outbox, dir);
    } finally {
      outbox.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fill(outbox: Outbox, count: number): void {
  for (let i = 1; i <= count; i++) outbox.append({ sensorId: `sensor-${i % 4}`, ts: Date.now(), values: { temperature: 21.5 + (i % 10) / 10, humidity: 40 + (i % 7), ok: true } });
  outbox.flush();
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

if (mode === '--fsync-probe') {
  // Child of the strace check: appends with sync=full and prints its commit count.
  withOutbox('full', (outbox) => {
    fill(outbox, total);
    process.stdout.write(`${outbox.stats().commits}\n`);
  });
} else if (mode === '--fill' || mode === '--backlog') {
  // Children of the memory check: one fills a store at full speed, a fresh one opens it with its
  // backlog and works it as the agent would (lease, ack, a trickle of new readings).
  const dir = process.argv[4]!;
  const before = process.memoryUsage().rss;
  const outbox = openOutbox({ dataDir: dir, agentId: 'bench', config: config('normal'), log });
  if (mode === '--fill') fill(outbox, total);
  else {
    for (let i = 0; i < 100; i++) {
      const lease = outbox.lease({ max: 1000, from: i % 4 === 3 ? 'newest' : 'oldest' });
      if (lease) outbox.ack(lease.leaseId);
      fill(outbox, 100);
    }
  }
  const stats = outbox.stats();
  process.stdout.write(`${JSON.stringify({ before, rss: process.memoryUsage().rss, pending: stats.pending, bytes: dirBytes(dir) })}\n`);
  outbox.close();
} else {
  process.stdout.write(`outbox bench: ${fmt(total)} readings per phase, ${process.platform} ${process.arch}, node ${process.version}\n`);
  for (const sync of ['full', 'normal'] as const) {
    withOutbox(sync, (outbox) => {
      const start = performance.now();
      fill(outbox, total);
      const appendSeconds = (performance.now() - start) / 1000;
      const commits = outbox.stats().commits;
      const drainStart = performance.now();
      let drained = 0;
      for (let lease = outbox.lease({ max: 1000, from: 'oldest' }); lease; lease = outbox.lease({ max: 1000, from: 'oldest' })) {
        drained += lease.entries.length;
        outbox.ack(lease.leaseId);
      }
      outbox.flush();
      const drainSeconds = (performance.now() - drainStart) / 1000;
      process.stdout.write(
        [
          `sync=${sync}`,
          `  appended          ${fmt(total / appendSeconds)} readings/s (${commits} commits of up to 1000: ${fmt(commits / appendSeconds)} commits/s${sync === 'full' ? '' : ', fewer fsyncs'})`,
          `  leased and acked  ${fmt(drained / drainSeconds)} readings/s (lease 1000, ack, repeat; pending after: ${outbox.stats().pending})`,
          '',
        ].join('\n'),
      );
    });
  }
  const strace = spawnSync('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', process.execPath, import.meta.filename, '--fsync-probe', '100000'], { encoding: 'utf8' });
  if (strace.error === undefined && strace.status === 0) {
    const commits = Number(strace.stdout.trim());
    const syncs = [...strace.stderr.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    process.stdout.write(`fsyncs (strace -c, 100,000 appends, sync=full): ${syncs} fsync/fdatasync calls for ${commits} commits (${(syncs / commits).toFixed(2)} per commit, incl. open/checkpoint/close)\n`);
  } else {
    process.stdout.write('fsyncs (strace): strace not available; commits/s above is the count\n');
  }
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-outbox-bench-'));
  // Inside the checkout, so the bundle finds better-sqlite3 (left out: a native addon) in node_modules.
  const bundle = resolve(import.meta.dirname, '../node_modules/.cache/edge-agent-bench/outbox.mjs');
  try {
    await build({
      entryPoints: [import.meta.filename],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      external: ['better-sqlite3'],
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'warning',
    });
    const child = (step: string) =>
      JSON.parse(spawnSync(process.execPath, [...BINARY_HEAP_FLAGS, bundle, step, '1000000', dir], { encoding: 'utf8' }).stdout.trim()) as { before: number; rss: number; pending: number; bytes: number };
    const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
    const filled = child('--fill');
    process.stdout.write(`backlog of ${fmt(filled.pending)} readings: ${(filled.bytes / filled.pending).toFixed(1)} bytes on disk per reading (${mb(filled.bytes)})\n`);
    process.stdout.write(`  RSS right after appending them at full speed: ${mb(filled.rss)} (${mb(filled.before)} before the outbox opened)\n`);
    const working = child('--backlog');
    process.stdout.write(`  RSS of a fresh process working that backlog (100 x lease 1000 + ack + 100 appends): ${mb(working.rss)}, ${fmt(working.pending)} pending after (${mb(working.before)} before the outbox opened)\n`);
    process.stdout.write(`  (bundled as in the binary, node ${BINARY_HEAP_FLAGS.join(' ')})\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
