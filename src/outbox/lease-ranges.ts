// Which sequence numbers are out on lease. Leases are contiguous seq ranges (a lease is a query
// over a gap with no leased rows in it), and there are only as many as messages in flight, so a
// short sorted list of intervals beats a per-row flag (which would cost a disk write per lease).

export interface SeqRange {
  lo: number;
  hi: number;
}

export class LeaseRanges {
  #ranges: SeqRange[] = [];

  get size(): number {
    return this.#ranges.length;
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

  contains(seq: number): boolean {
    return this.#ranges.some((r) => seq >= r.lo && seq <= r.hi);
  }

  clear(): void {
    this.#ranges = [];
  }
}
