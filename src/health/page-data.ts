// What the status page shows, built from the status snapshot and a few things only the page needs
// (the outbox trend, the sensors' last values, recent warnings): plain numbers and strings, nothing
// secret (the snapshot holds none; log lines pass through the logger's redaction first).
import type { Reading } from '../sources/reading.ts';
import type { StatusSnapshot } from '../status/snapshot.ts';
import type { GatewaySample } from './gateway-sampler.ts';

export interface ProblemLine {
  at: number;
  level: 'warn' | 'error' | 'fatal';
  component: string;
  message: string;
}

export interface PageData {
  agentId: string;
  version: string;
  now: number;
  uptimeS: number;
  link: { state: string; since: number; provider: string; endpoint: string; lastError: string | null };
  destinations: { id: string; state: string; since: number; pending: number }[];
  outbox: { pending: number; bytes: number; maxBytes: number; oldestTs: number | null; dropped: number; drainPerS: number; writtenBytes: number | null; sentBytes: number };
  trend: { t: number; pending: number }[];
  sensors: { id: string; type: string; values: Record<string, number | string | boolean> | null; lastSeenTs: number | null; ratePerS: number; parseErrors: number; ioErrors: number; lastError: string | null }[];
  gateway: { cpuLoad1: number | null; memUsedPercent: number | null; temperatureC: number | null; diskUsedPercent: number | null } | null;
  log: ProblemLine[];
}

/** A value is shown cut to this: the page is for looking, and field data may be anything. */
const MAX_VALUE_CHARS = 120;
const MAX_VALUES_PER_SENSOR = 24;

export function buildPageData(s: StatusSnapshot, extra: { trend: PageData['trend']; lastValues: ReadonlyMap<string, Reading>; rates: ReadonlyMap<string, number>; gateway: GatewaySample | undefined; log: ProblemLine[] }): PageData {
  const dropped = Object.values(s.outbox.dropped).reduce((a, b) => a + b, 0);
  const g = extra.gateway;
  return {
    agentId: s.agentId,
    version: s.version,
    now: s.now,
    uptimeS: Math.round((s.now - s.startedAt) / 1000),
    link: { state: s.link.state, since: s.link.since, provider: s.link.provider, endpoint: s.link.endpoint, lastError: s.link.lastError },
    destinations: Object.entries(s.destinations ?? {}).map(([id, d]) => ({ id, state: d.state, since: d.since, pending: d.pending })),
    outbox: {
      pending: s.outbox.pending,
      bytes: s.outbox.bytes,
      maxBytes: s.outbox.maxBytes,
      oldestTs: s.outbox.oldestTs,
      dropped,
      drainPerS: Math.round(s.link.publishRate * 10) / 10,
      writtenBytes: typeof s.storageWrittenBytes === 'number' ? s.storageWrittenBytes : null,
      sentBytes: s.link.bytesSent,
    },
    trend: extra.trend,
    sensors: Object.entries(s.sensors).map(([id, sensor]) => ({
      id,
      type: sensor.type,
      values: shownValues(extra.lastValues.get(id)),
      lastSeenTs: sensor.lastReadingAt,
      ratePerS: Math.round((extra.rates.get(id) ?? 0) * 100) / 100,
      parseErrors: sensor.parseErrors,
      ioErrors: sensor.ioErrors,
      lastError: sensor.lastError,
    })),
    gateway: g
      ? {
          cpuLoad1: g['cpu.load1'] ?? null,
          memUsedPercent: g['mem.usedPercent'] ?? null,
          temperatureC: g['temp.cpuC'] ?? null,
          diskUsedPercent: g['disk.usedPercent'] ?? null,
        }
      : null,
    log: extra.log,
  };
}

function shownValues(reading: Reading | undefined): PageData['sensors'][number]['values'] {
  if (!reading) return null;
  const shown: Record<string, number | string | boolean> = {};
  for (const [key, value] of Object.entries(reading.values).slice(0, MAX_VALUES_PER_SENSOR)) {
    if (typeof value === 'number' || typeof value === 'boolean') shown[key.slice(0, 64)] = value;
    else if (typeof value === 'string') shown[key.slice(0, 64)] = value.length > MAX_VALUE_CHARS ? `${value.slice(0, MAX_VALUE_CHARS)}…` : value;
  }
  return shown;
}
