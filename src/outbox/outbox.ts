// The outbox's verbs. One implementation (SQLite); nothing else in the agent touches SQL.
import type { FieldValue, Reading } from '../sources/reading.ts';

export type Lane = 'telemetry' | 'reserved';

/** A stored entry. Telemetry entries carry a reading; reserved entries carry an opaque JSON body. */
export interface OutboxEntry {
  seq: number;
  /** Unique across restarts and store re-creation: a cloud may deduplicate on it. */
  id: string;
  lane: Lane;
  sensorId: string;
  ts: number;
  values: Record<string, FieldValue>;
  /** The values as the JSON text stored when the reading came in, for formats that splice it in as is (no parse, no stringify). */
  readonly valuesJson?: string;
  clockUnsynced?: boolean;
  /** Reserved lane only: what the caller stored (a rendered command reply or event). */
  body?: unknown;
}

export interface Lease {
  readonly leaseId: number;
  readonly entries: OutboxEntry[];
}

export interface OutboxStats {
  pending: number;
  pendingReserved: number;
  leased: number;
  /** ts of the oldest pending telemetry entry, or null when empty. */
  oldestTs: number | null;
  bytes: number;
  maxBytes: number;
  /** Readings dropped by retention (full or too old) or rejected as oversized, per sensor. */
  dropped: Record<string, number>;
  lastSeq: number;
  /** Highest seq known to be durable on disk. */
  committedSeq: number;
  commits: number;
  /** Set while the disk is full (SQLITE_FULL): appends are held, then the policy applies. */
  diskFull: boolean;
  /** Per destination, when there are several (`pending` above is the largest of theirs). */
  destinations?: Record<string, DestinationStats>;
  /** Present while the outbox file cannot be opened (a full disk or an I/O error at start): the agent runs on, holding readings in memory. */
  unavailable?: OutboxUnavailable;
  /** Readings that arrived while the outbox could not be opened, since the agent started: held in memory instead of stored (then stored, or dropped past the bound). */
  unstored?: number;
}

export interface OutboxUnavailable {
  /** What SQLite or the file system said at the last attempt. */
  reason: string;
  dataDir: string;
  /** Free bytes on the file system holding dataDir at the last attempt, or null when it cannot be read. */
  freeBytes: number | null;
  since: number;
  attempts: number;
  nextAttemptAt: number | null;
  /** Readings in memory now, stored when the file opens (lost if the agent stops first). */
  held: number;
}

export interface LeaseOptions {
  max: number;
  /** Which end of the telemetry backlog to take from. Reserved entries always come first. */
  from: 'oldest' | 'newest';
  /**
   * Live readings (not yet a stored backlog) are taken only when at least this many are waiting:
   * the forwarder's linger. Reserved entries and a stored backlog are never held back. Default 1.
   */
  minLive?: number;
  /** Which destination leases (each has its own progress); default the first. */
  destination?: string;
}

/** One destination's side of the outbox. */
export interface DestinationStats {
  /** Telemetry this destination has not acknowledged yet. */
  pending: number;
  /** ts of the oldest reading it has not acknowledged, or null. */
  oldestTs: number | null;
  leased: number;
  /** Readings retention dropped before this destination acknowledged them (maxBytes, maxAge, disk full), since the outbox was created. */
  dropped: number;
}

export interface Outbox {
  /** Buffers a reading; it is committed within commitInterval. Returns its sequence number (0 while the outbox is unavailable: it is numbered when stored; 0 too for a sensor no destination takes, counted as dropped). */
  append(reading: Reading): number;
  /** Buffers a command reply or event in the reserved lane, which retention never drops to make room for telemetry; it goes to `destination` only (default the first). */
  appendReserved(body: unknown, destination?: string): number;
  /** Commits what is buffered now. */
  flush(): void;
  /** Takes up to `max` pending, unleased entries, or undefined when there are none. */
  lease(options: LeaseOptions): Lease | undefined;
  /** The cloud has these: delete them. */
  ack(leaseId: number): void;
  /** They were not delivered: make them available again. */
  nack(leaseId: number): void;
  /** Drops telemetry by sensor and/or age (the `outbox.purge` command); returns how many. */
  purge(filter: { sensorId?: string; olderThan?: number }): number;
  /** Records entries dropped elsewhere (e.g. rejected as too large by a cloud adapter). */
  recordDropped(sensorId: string, count: number, reason: string): void;
  stats(): OutboxStats;
  /** Called after every commit with the highest committed seq (wakes the forwarder). */
  onCommit(listener: (committedSeq: number) => void): () => void;
  /** Called (once per tick at most) when entries were appended: they can be leased before they are committed. */
  onAvailable(listener: () => void): () => void;
  close(): void;
}
