// What one journal frame says, and reading it back. A frame is the commit's news: readings and
// reserved entries not yet written, acknowledgements, drop counts. Values are stored as the text
// append() serialized (spliced in, not serialized again).
import type { SeqRange } from './lease-ranges.ts';
import { SINGLE_DESTINATION } from './schema.ts';

export interface JournalReading {
  seq: number;
  sensorId: string;
  ts: number;
  flags: number;
  /** The reading's values as JSON text. */
  vals: string;
}

export interface JournalReserved {
  seq: number;
  ts: number;
  /** JSON text. */
  body: string;
  /** The destination it goes to. */
  dest: string;
}

export interface FrameContents {
  readings: JournalReading[];
  reserved: JournalReserved[];
  /** Acknowledged telemetry seq ranges, per destination. */
  acked: Map<string, SeqRange[]>;
  /** Acknowledged reserved seqs. */
  ackedReserved: number[];
  drops: [string, number][];
}

export function encodeFrame(frame: FrameContents): string {
  const parts: string[] = [];
  if (frame.readings.length > 0) parts.push(`"r":[${frame.readings.map((r) => `[${r.seq},${JSON.stringify(r.sensorId)},${r.ts},${r.flags},${r.vals}]`).join(',')}]`);
  if (frame.reserved.length > 0) parts.push(`"v":[${frame.reserved.map((r) => `[${r.seq},${r.ts},${r.body},${JSON.stringify(r.dest)}]`).join(',')}]`);
  const acked = [...frame.acked].filter(([, ranges]) => ranges.length > 0);
  if (acked.length > 0) parts.push(`"k":${JSON.stringify(Object.fromEntries(acked.map(([dest, ranges]) => [dest, ranges.map((r) => [r.lo, r.hi])])))}`);
  if (frame.ackedReserved.length > 0) parts.push(`"x":${JSON.stringify(frame.ackedReserved)}`);
  if (frame.drops.length > 0) parts.push(`"d":${JSON.stringify(frame.drops)}`);
  return `{${parts.join(',')}}`;
}

/** Reads a frame the journal's checksum vouched for; throws on anything else (the caller stops replaying there). */
export function decodeFrame(text: string): FrameContents {
  const raw = JSON.parse(text) as { r?: [number, string, number, number, unknown][]; v?: [number, number, unknown, string?][]; a?: [number, number][]; k?: Record<string, [number, number][]>; x?: number[]; d?: [string, number][] };
  const acked = new Map<string, SeqRange[]>();
  // "a": a frame from before destinations, written for the single cloud.
  if (raw.a) acked.set(SINGLE_DESTINATION, raw.a.map(([lo, hi]) => ({ lo, hi })));
  for (const [dest, ranges] of Object.entries(raw.k ?? {})) acked.set(dest, ranges.map(([lo, hi]) => ({ lo, hi })));
  return {
    readings: (raw.r ?? []).map(([seq, sensorId, ts, flags, vals]) => ({ seq, sensorId, ts, flags, vals: JSON.stringify(vals) })),
    reserved: (raw.v ?? []).map(([seq, ts, body, dest]) => ({ seq, ts, body: JSON.stringify(body) ?? 'null', dest: dest ?? SINGLE_DESTINATION })),
    acked,
    ackedReserved: raw.x ?? [],
    drops: raw.d ?? [],
  };
}
