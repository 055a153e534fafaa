// A real pino logger whose JSON lines are kept in memory, for tests that assert on events.
import { Writable } from 'node:stream';
import { createLogger, type Logger, type LogLevel } from '../../src/log.ts';

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
  events: (name: string) => Record<string, unknown>[];
}

export function captureLog(level: LogLevel = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as Record<string, unknown>);
      callback();
    },
  });
  const log = createLogger({ level, destination });
  return { log, lines, events: (name) => lines.filter((l) => l.event === name) };
}
