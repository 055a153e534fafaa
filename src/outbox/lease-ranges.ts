// Which sequence numbers are out on lease. Leases are contiguous seq ranges (a lease is a query
// over a gap with no leased rows in it), and there are only as many as messages in flight, so a
// short sorted list of intervals beats a per-row flag (which would cost a disk write per lease).

export interface SeqRange {
  lo: number;
  hi: number;
}

export class LeaseRanges {
  #ranges: SeqRange[] = [];

  /** From ranges that are sorted and disjoint already. */
  static of(ranges: readonly SeqRange[]): LeaseRanges {
    const leases = new LeaseRanges();
    leases.#ranges = ranges.map((r) => ({ ...r }));
    return leases;
  }

  get size(): number {
    return this.#ranges.length;
  }

  get list(): readonly SeqRange[] {
    return this.#ranges;
  }

  add(range: SeqRange): void {
    const index = this.#ranges.findIndex((r) => r.lo > range.lo);
    if (index < 0) this.#ranges.push(range);
    else this.#ranges.splice(index, 0, range);
  }

  remove(range: SeqRange): void {
    const index = this.#ranges.findIndex((r) => r.lo === range.lo && r.hi === range.hi);
    if (index >= 0) this.#ranges.splice(index, 1);
  }

  /** The unleased gaps, as open intervals (lo, hi), from the oldest or from the newest end. */
  gaps(from: 'oldest' | 'newest'): SeqRange[] {
    const gaps: SeqRange[] = [];
    let previous = 0;
    for (const range of this.#ranges) {
      if (range.lo > previous + 1) gaps.push({ lo: previous, hi: range.lo });
      previous = range.hi;
    }
    gaps.push({ lo: previous, hi: Number.MAX_SAFE_INTEGER });
    return from === 'oldest' ? gaps : gaps.reverse();
  }
}

/** Seq ranges merged as they are added (acknowledged readings still in the table): stays as short as the acks are contiguous. */
export class MergedRanges {
  #ranges: SeqRange[] = [];

  /** A copy of sorted, disjoint ranges. */
  static of(ranges: readonly SeqRange[]): MergedRanges {
    const merged = new MergedRanges();
    merged.#ranges = ranges.map((r) => ({ ...r }));
    return merged;
  }

  get list(): readonly SeqRange[] {
    return this.#ranges;
  }

  add(range: SeqRange): void {
    let lo = range.lo;
    let hi = range.hi;
    const kept: SeqRange[] = [];
    let at = 0;
    for (const r of this.#ranges) {
      if (r.hi + 1 < lo) {
        kept.push(r);
        at = kept.length;
      } else if (r.lo - 1 > hi) kept.push(r);
      else {
        lo = Math.min(lo, r.lo);
        hi = Math.max(hi, r.hi);
      }
    }
    kept.splice(at, 0, { lo, hi });
    this.#ranges = kept;
  }

  contains(seq: number): boolean {
    let lo = 0;
    let hi = this.#ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.#ranges[mid]!;
      if (seq < r.lo) hi = mid - 1;
      else if (seq > r.hi) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

/** The seqs every list covers (each list sorted and disjoint): rows every destination acknowledged. */
export function intersectAll(lists: readonly (readonly SeqRange[])[]): SeqRange[] {
  if (lists.length === 0) return [];
  let common: SeqRange[] = [...lists[0]!];
  for (const list of lists.slice(1)) {
    const next: SeqRange[] = [];
    let i = 0;
    let j = 0;
    while (i < common.length && j < list.length) {
      const lo = Math.max(common[i]!.lo, list[j]!.lo);
      const hi = Math.min(common[i]!.hi, list[j]!.hi);
      if (lo <= hi) next.push({ lo, hi });
      if (common[i]!.hi < list[j]!.hi) i++;
      else j++;
    }
    common = next;
  }
  return common;
}

/** Open intervals (lo, hi) holding neither leased nor acknowledged seqs, from the oldest or the newest end. */
export function gapsBetween(a: readonly SeqRange[], b: readonly SeqRange[], from: 'oldest' | 'newest'): SeqRange[] {
  const all = [...a, ...b].sort((x, y) => x.lo - y.lo);
  const gaps: SeqRange[] = [];
  let previous = 0;
  for (const range of all) {
    if (range.lo > previous + 1) gaps.push({ lo: previous, hi: range.lo });
    previous = Math.max(previous, range.hi);
  }
  gaps.push({ lo: previous, hi: Number.MAX_SAFE_INTEGER });
  return from === 'oldest' ? gaps : gaps.reverse();
}
