// The one interface every cloud implements. Adapters are pure translators: they hold no sockets
// and no timers. The session (session.ts) does all I/O and calls them; the forwarder feeds them
// batches from the outbox. Adding a cloud = one file in adapters/ + one line in adapters/index.ts;
// a cloud whose devices register themselves adds a credentials part (credentials/credentials-part.ts).
import type { z } from 'zod';
import type { Command, CommandResult } from '../commands/command.ts';
import type { Logger } from '../log.ts';
import type { CredentialsPart, HeldCredentials, MqttConnect } from './credentials/credentials-part.ts';
import type { DeviceStore } from './credentials/device-store.ts';
import type { HttpsPost } from './https-post.ts';
import type { Timers } from '../timers.ts';
import type { FieldValue } from '../sources/reading.ts';
import type { LinkFacts } from './link-warnings.ts';
import type { IncomingMessage, OutgoingMessage } from './message.ts';

/** Where a config change from the cloud is kept: Azure desired properties, a Xyte config push. */
export const REMOTE_CONFIG_KEY = 'edgeAgent';

export interface AdapterContext {
  agentId: string;
  agentVersion: string;
  /** The agent's state directory. Adapters keep device state through `store`, never by path. */
  dataDir: string;
  log: Logger;
  now(): number;
  /** False while the system clock is evidently wrong (earlier than the build): signatures would be refused. */
  clockSynchronized(): boolean;
  /** `edge-agent doctor` only looks: no registration, and `store` writes nothing. */
  readOnly?: boolean;
  /** Device state in the data dir (credentials, a cloud's last applied config); the registry gives one (read-only with readOnly). */
  store?: DeviceStore;
  /** The HTTPS client registrations use; the registry gives https-post.ts, tests may point it elsewhere. */
  https?: HttpsPost;
  /** Opens the MQTT link a registration speaks over (Azure DPS); the registry gives mqtt.connect. */
  mqttConnect?: MqttConnect;
  /** What registrations wait with (polls, answer timeouts); the registry gives the system's. */
  timers?: Timers;
}

export interface ConnectOptions {
  /** mqtt://, mqtts://, ws:// or wss:// with host, port and (for WebSockets) path. */
  url: string;
  clientId: string;
  username?: string;
  password?: string | Buffer;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string };
  /** When these credentials should be replaced (epoch ms): the session reconnects then with fresh ones. */
  renewAt?: number;
  /**
   * Ask the broker to keep the session while the agent is away, so commands sent during a blip
   * arrive after the reconnect (3.1.1 clean session off, MQTT 5 session expiry = commands.maxAge).
   * Only where the cloud keeps sessions; the session decides when a kept session is too old to resume.
   */
  persistentSession?: boolean;
  /** MQTT 5 CONNECT properties, when the cloud needs any. */
  properties?: { sessionExpiryInterval?: number; userProperties?: Record<string, string> };
  /**
   * MQTT 5 user properties added to every publish on this connection (Xyte: device_id and
   * access_key). Added at send time, so they never rest in the outbox and a re-registered
   * device's replies carry its new key.
   */
  userPropertiesOnEveryPublish?: Record<string, string>;
}

/** A reading as the forwarder hands it to an adapter. `id` is unique across restarts, for deduplication. */
export interface TelemetryRecord {
  id: string;
  seq: number;
  sensorId: string;
  ts: number;
  values: Record<string, FieldValue>;
  /** The values as stored JSON text, when the outbox has it: formats that carry them as JSON splice it in. */
  readonly valuesJson?: string;
  clockUnsynced?: boolean;
}

export interface EncodedTelemetry {
  messages: OutgoingMessage[];
  /** Records that cannot be sent at all (larger than the cloud's message limit on their own): dropped and counted. */
  rejected: { record: TelemetryRecord; reason: string }[];
}

/**
 * What the agent should do with an incoming message. ReplyTo and ConfigReplyTo are the adapter's own
 * reply addresses: opaque to the agent, handed back to the adapter that made them.
 */
export type IncomingAction<ReplyTo = unknown, ConfigReplyTo = unknown> =
  | { kind: 'command'; command: Command<ReplyTo> }
  /** A config change from the cloud (Azure desired properties, Xyte config push): validated like the file. */
  | { kind: 'config'; version: number; patch: unknown; replyTo: ConfigReplyTo }
  /** Publish these right away: an error reply to a command that could not even be decoded. */
  | { kind: 'reply'; messages: OutgoingMessage[]; reason: string }
  /** Something to count and log (a refused telemetry post, a malformed message with no way to answer). */
  | { kind: 'notice'; level: 'info' | 'warn' | 'error'; event: string; message: string; fields?: Record<string, unknown> };

/** Slow-changing facts some clouds keep as device state (Azure reported properties). */
export interface AgentFacts {
  agentVersion: string;
  link: string;
  outboxPending: number;
  configVersion: number;
  [key: string]: unknown;
}

export interface CloudAdapter<ReplyTo = unknown, ConfigReplyTo = unknown> {
  readonly provider: string;
  /** Largest payload the cloud accepts, in bytes. */
  readonly maxMessageBytes: number;
  /** How long live readings wait to share a message when the config does not say (cloud.linger): the cloud's metering decides. */
  readonly defaultLingerMs: number;
  /**
   * Called before every (re)connect: mint fresh tokens or signatures here. May throw
   * CredentialsUnavailableError (the session waits retryAfterMs); registration happens before it,
   * in the cloud's credentials part (credentials/supervised-adapter.ts).
   */
  connectOptions(): Promise<ConnectOptions>;
  /** Topics to subscribe (QoS 1) after every connect. */
  subscriptions(): string[];
  /** Publishes to make right after every connect (Azure: GET the twin). */
  onConnected?(): OutgoingMessage[];
  encodeTelemetry(records: TelemetryRecord[]): EncodedTelemetry;
  decodeIncoming(message: IncomingMessage): IncomingAction<ReplyTo, ConfigReplyTo>[];
  /** Sent as soon as a command is accepted, before it runs (Xyte: in_progress). */
  encodeAccepted?(command: Command<ReplyTo>): OutgoingMessage[];
  encodeReply(command: Command<ReplyTo>, result: CommandResult): OutgoingMessage[];
  /** The outcome of a config change from the cloud, in the cloud's format (Xyte: config/update echo). */
  encodeConfigResult?(action: { version: number; replyTo: ConfigReplyTo }, outcome: { applied: boolean; message?: string; config?: unknown }): OutgoingMessage[];
  /** Device state for clouds that keep one (Azure reported properties). */
  encodeFacts?(facts: AgentFacts): OutgoingMessage[];
  /** A message the session sends every intervalMs while connected, when the cloud wants one even without readings. */
  heartbeat?: { intervalMs: number; encode(): OutgoingMessage[] };
  /** The broker refused our credentials (CONNACK not authorized). With a credentials part, the seam calls its refused(). */
  onAuthRejected?(): Promise<void>;
}

export interface AdapterDefinition<Schema extends z.ZodType = z.ZodType, Credentials = unknown> {
  readonly provider: string;
  /** A strict object schema whose `provider` is a literal; becomes one branch of config `cloud`. */
  readonly configSchema: Schema;
  /**
   * The translator. With a credentials part, `credentials` holds what the part resolved or
   * registered (set before every connectOptions()); the adapter does no I/O to get them.
   */
  create(config: z.output<Schema>, ctx: AdapterContext, credentials?: HeldCredentials<Credentials>): CloudAdapter;
  /**
   * For a cloud whose devices register themselves (Xyte, Alibaba "one secret per product"): resolve,
   * register, refused. The registry runs it for the agent, `edge-agent register` and doctor.
   */
  readonly credentials?: CredentialsPart<z.output<Schema>, Credentials>;
  /**
   * What the link will expose, read from the config alone (pure, no files, no network): the
   * agent, check-config and doctor warn from it when certificates go unchecked or credentials
   * go in clear (link-warnings.ts).
   */
  linkFacts(config: z.output<Schema>): LinkFacts;
  /** What check-config adds after the provider's name, when the URL alone does not say how it connects ("via DPS …"). */
  describe?(config: z.output<Schema>, agentId: string): string | undefined;
}
