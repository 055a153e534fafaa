// What `edge-agent status`, the `status` command, /health and /metrics all read: one snapshot of the running agent.
import type { OutboxStats } from '../outbox/outbox.ts';
import type { SensorStats } from '../sources/source.ts';
import type { UpdateStatus } from '../update/updater.ts';

export type LinkState = 'starting' | 'connecting' | 'connected' | 'disconnected' | 'waiting-for-clock' | 'stopped';

export interface LinkStatus {
  provider: string;
  /** The endpoint without credentials. */
  endpoint: string;
  state: LinkState;
  /** When the current state began (epoch ms). */
  since: number;
  /** When the link was last connected, or null if never. */
  lastConnectedAt: number | null;
  reconnects: number;
  /** Delay before the next connection attempt, while disconnected. */
  nextAttemptAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Messages published and not yet acknowledged. */
  inFlight: number;
  /** Readings the cloud acknowledged (owned by the forwarder, which knows what a message held). */
  publishedReadings: number;
  publishedMessages: number;
  bytesSent: number;
  /** Readings per second over the last minute. */
  publishRate: number;
  /** Publishes the cloud refused (MQTT 5 PUBACK with a failure reason code). */
  refusedMessages: number;
  /** Why publishes are being refused, until one is accepted again; null while they are accepted. */
  refusing: string | null;
}

export interface DestinationStatus extends LinkStatus {
  /** Readings stored for it and not yet acknowledged by it, and the oldest one's ts. */
  pending: number;
  oldestTs: number | null;
  /** Readings it lost to retention (maxBytes, maxAge) before it acknowledged them. */
  dropped: number;
}

/** What the session itself knows of the link: everything but the readings, which the forwarder counts. */
export type SessionStatus = Omit<LinkStatus, 'publishedReadings' | 'publishRate'>;

export interface SensorStatus extends SensorStats {
  type: string;
  /** The sensor's report mode, and how many of its `readings` (taken) went to the outbox: the reduction it buys. */
  report: 'every' | 'change' | 'window';
  reported: number;
}

export interface CommandStats {
  received: number;
  succeeded: number;
  failed: number;
  refused: number;
  running: number;
  /** Dropped without a reply: over twice commands.rate, too many being handled, or too large to read. */
  dropped?: number;
}

export interface StatusSnapshot {
  agentId: string;
  version: string;
  pid: number;
  startedAt: number;
  now: number;
  configFile: string;
  configVersion: number;
  clockSynchronized: boolean;
  /** The link of the first destination (the only one with a single `cloud`). */
  link: LinkStatus;
  /** With several destinations ("clouds"): each one's link and its side of the outbox, by id. */
  destinations?: Record<string, DestinationStatus>;
  outbox: OutboxStats;
  sensors: Record<string, SensorStatus>;
  commands: CommandStats;
  /** Bytes the agent caused to be written to storage since it started (outbox above all): the wear on an SD card. Null where the kernel does not say. */
  storageWrittenBytes?: number | null;
  /** The last few errors of any part, newest first. */
  recentErrors: { at: number; component: string; message: string }[];
  /** Remote update: the running version, an update in progress or on trial, and the last outcome. */
  update?: UpdateStatus;
}
