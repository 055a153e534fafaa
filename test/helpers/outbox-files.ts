// Shared by the outbox tests: temp data dirs, a logger that keeps what it was told, opening with overrides.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../../src/log.ts';
import { outboxConfigSchema, type OutboxConfig } from '../../src/outbox/config.ts';
import { openOutbox, type OpenOutboxOptions } from '../../src/outbox/sqlite-outbox.ts';

export function silentLog(): Logger {
  return pino({ level: 'silent' });
}

export interface LogLine {
  level: number;
  msg: string;
  event?: string;
  [key: string]: unknown;
}

/** A real pino logger writing into an array. */
export function recordingLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { log, lines };
}

export function tempDataDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-outbox-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function outboxConfig(overrides: Record<string, unknown> = {}): OutboxConfig {
  return outboxConfigSchema.parse(overrides);
}

export function open(dataDir: string, overrides: Record<string, unknown> = {}, extra: Partial<OpenOutboxOptions> = {}) {
  return openOutbox({ dataDir, agentId: 'gw-1', config: outboxConfig(overrides), log: silentLog(), ...extra });
}
