// The credentials seam (issue #17): what a cloud whose devices register themselves brings besides
// its translator. The adapter stays a pure translator and reads the credentials it was handed; the
// part gets them (config, device store, HTTPS registration); supervised-adapter.ts runs the part
// behind the session's two calls (connectOptions, onAuthRejected), with one shared backoff.
import type { IClientOptions, MqttClient } from 'mqtt';
import type { AdapterContext } from '../adapter.ts';
import type { HttpsPost } from '../https-post.ts';
import type { Timers } from '../../timers.ts';
import type { DeviceStore } from './device-store.ts';
import type { RegistrationBackoff } from './registration-backoff.ts';
import type { RegistrationError } from './registration-error.ts';

/** Opens an MQTT client: mqtt.connect, or a fake in tests. */
export type MqttConnect = (options: IClientOptions) => MqttClient;

/**
 * What a credentials part works with: the adapter's context plus the device store and the
 * transports and timers it registers with. The part owns none of them, so an adapter folder holds
 * no sockets and no timers, and tests drive a registration without a network or a wall clock.
 */
export interface CredentialsContext extends AdapterContext {
  store: DeviceStore;
  https: HttpsPost;
  mqttConnect: MqttConnect;
  timers: Timers;
}

/** Credentials and where they came from: the config's are never replaced or set aside. */
export interface ResolvedCredentials<Credentials> {
  credentials: Credentials;
  source: 'config' | 'stored';
}

/** How an adapter reads the credentials the seam obtained: undefined until the first connect has them. */
export interface HeldCredentials<Credentials> {
  current(): Credentials | undefined;
}

export interface CredentialsPart<Config, Credentials> {
  /** The cloud, in messages: "not registered with Xyte yet". */
  readonly cloud: string;
  /** What the store keeps, in messages: "credentials", "device secret". */
  readonly kept: string;
  /** Credentials given in the config or kept from an earlier registration; undefined when the device must register. Reads only. */
  resolve(config: Config, ctx: CredentialsContext): Promise<ResolvedCredentials<Credentials> | undefined>;
  /** Registers over ctx.https or ctx.mqttConnect, keeps the answer in ctx.store and logs it. Throws RegistrationError when refused or unreachable. */
  register(config: Config, ctx: CredentialsContext): Promise<Credentials>;
  /**
   * The broker refused these credentials. Stored ones: set them aside (ctx.store.setAside) so the
   * next connect registers again, and log it. The config's: log what to check (called once per outage).
   */
  refused(config: Config, ctx: CredentialsContext, refused: ResolvedCredentials<Credentials>): Promise<void>;
  /** Bounds of the shared registration backoff; no registration is retried sooner than minMs after the last. */
  backoff(config: Config): RegistrationBackoff;
  /** One sentence on a failed registration, with what to check; the seam adds when it retries. */
  failure(config: Config, error: RegistrationError): string;
  /** What `edge-agent register` prints: the device id, the MQTT endpoint, and any further lines ("assigned hub", value). */
  describe(config: Config, credentials: Credentials): { deviceId: string; endpoint: string; details?: [string, string][] };
  /**
   * False when this config gives the credentials and never registers (Azure with a connection string):
   * `edge-agent register` then says the provider needs no registration step (exit 64). Default true.
   */
  registers?(config: Config): boolean;
  /**
   * Where registration goes, for `edge-agent doctor` to check its reach (DNS, TCP, TLS) as it checks
   * the broker's; undefined when this config does not register (credentials given in the config).
   */
  registrationEndpoint?(config: Config): { name: string; url: string; tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string } } | undefined;
}
