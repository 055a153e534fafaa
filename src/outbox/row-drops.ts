// Deleting telemetry for retention, counted per sensor. Runs inside the caller's transaction and
// never touches rows out on lease (they may be acknowledged any moment), except for age.
import type { LeaseRanges } from './lease-ranges.ts';
import type { Statements } from './statements.ts';

export type SensorCounts = Map<string, number>;

/** Told about rows just before they are deleted, so what each destination lost can be counted. */
export interface DropWitness {
  range(lo: number, hi: number): void;
  aged(boundary: number, cutoff: number): void;
}

/** Drops up to `count` of the oldest unleased readings. */
export function dropOldest(s: Statements, leased: LeaseRanges, count: number, into: SensorCounts, witness?: DropWitness): number {
  let dropped = 0;
  for (const gap of leased.gaps('oldest')) {
    if (dropped >= count) break;
    const nth = s.nthOldest.get(gap.lo, gap.hi, count - dropped - 1) as number | undefined;
    dropped += deleteRange(s, gap.lo + 1, nth ?? gap.hi - 1, into, witness);
  }
  return dropped;
}

/** Drops up to `count` of the newest unleased readings. */
export function dropNewest(s: Statements, leased: LeaseRanges, count: number, into: SensorCounts, witness?: DropWitness): number {
  let dropped = 0;
  for (const gap of leased.gaps('newest')) {
    if (dropped >= count) break;
    const nth = s.nthNewest.get(gap.lo, gap.hi, count - dropped - 1) as number | undefined;
    dropped += deleteRange(s, nth ?? gap.lo + 1, Math.min(gap.hi - 1, Number.MAX_SAFE_INTEGER), into, witness);
  }
  return dropped;
}

/**
 * Drops readings stamped before `cutoff`, walking from the oldest. Readings whose clock was not yet
 * synchronized are kept: their ts (often 1970 on a Pi without an RTC) says nothing about their age.
 * A leased reading may go too: its ack then deletes nothing, which is harmless.
 */
export function dropOlderThan(s: Statements, cutoff: number, into: SensorCounts, witness?: DropWitness): number {
  const boundary = (s.ageBoundary.get(cutoff) as number | undefined) ?? Number.MAX_SAFE_INTEGER;
  witness?.aged(boundary, cutoff);
  for (const [sensor, n] of s.countAged.all(boundary, cutoff) as [string, number][]) into.set(sensor, (into.get(sensor) ?? 0) + n);
  return s.deleteAged.run(boundary, cutoff).changes;
}

function deleteRange(s: Statements, lo: number, hi: number, into: SensorCounts, witness?: DropWitness): number {
  if (hi < lo) return 0;
  witness?.range(lo, hi);
  for (const [sensor, n] of s.countRange.all(lo, hi) as [string, number][]) into.set(sensor, (into.get(sensor) ?? 0) + n);
  return s.deleteRange.run(lo, hi).changes;
}
