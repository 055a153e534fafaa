// How a cloud connection is described to mqtt.js, in one place for the session and for `doctor`
// (which must connect the way the agent does, or its verdict says nothing about the agent).
import { Readable } from 'node:stream';
import { Store, type IClientOptions, type IStore } from 'mqtt';
import type { ConnectOptions } from './adapter.ts';

/**
 * The broker URL as mqtt.js connection options, parsed with WHATWG URL: given a string, mqtt.js
 * parses it with the legacy url.parse(), and Node prints a DEP0169 warning (plain text on stderr,
 * outside the JSON log) at the first connection.
 */
export function brokerAddress(url: string): Pick<IClientOptions, 'protocol' | 'host' | 'port' | 'path'> {
  const parsed = new URL(url);
  const protocol = parsed.protocol.slice(0, -1) as NonNullable<IClientOptions['protocol']>;
  return {
    protocol,
    // WHATWG keeps IPv6 literals in brackets; sockets want the bare address.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    ...(parsed.port !== '' ? { port: Number(parsed.port) } : {}),
    ...(protocol.startsWith('ws') ? { path: `${parsed.pathname}${parsed.search}` } : {}),
  };
}

/** What the session decides per connection, beside what the adapter says. */
export interface ConnectionFlags {
  clean: boolean;
  sessionExpirySeconds: number;
  maxIncomingBytes: number;
}

export function toMqttOptions(options: ConnectOptions, connectTimeoutMs: number, flags: ConnectionFlags): IClientOptions {
  const v5 = options.protocolVersion === 5;
  const properties = {
    ...options.properties,
    // MQTT 5 §3.1.2.11.4: the broker must not send a packet larger than this; §3.1.2.11.2: keep the session this long.
    ...(v5 ? { maximumPacketSize: flags.maxIncomingBytes + 64 * 1024 } : {}),
    ...(v5 && options.persistentSession ? { sessionExpiryInterval: flags.sessionExpirySeconds } : {}),
  };
  return {
    clientId: options.clientId,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    protocolVersion: options.protocolVersion,
    keepalive: options.keepaliveSeconds,
    // The session owns reconnecting (backoff with jitter); mqtt.js's fixed-period reconnect would storm.
    reconnectPeriod: 0,
    connectTimeout: connectTimeoutMs,
    clean: flags.clean,
    resubscribe: false,
    queueQoSZero: false,
    // mqtt-packet's number cache is 65,536 two-byte Buffers (~7 MB of heap) to save an allocation per
    // packet id; our messages are batches, so the allocation is nothing and the memory is not.
    writeCache: false,
    outgoingStore: new AcknowledgementOnlyStore(),
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
    ...(options.tls
      ? {
          rejectUnauthorized: options.tls.rejectUnauthorized,
          ...(options.tls.ca ? { ca: options.tls.ca } : {}),
          ...(options.tls.cert ? { cert: options.tls.cert } : {}),
          ...(options.tls.key ? { key: options.tls.key } : {}),
          ...(options.tls.servername ? { servername: options.tls.servername } : {}),
        }
      : { rejectUnauthorized: true }),
  };
}

/** Host, port (each scheme's default when the URL gives none) and whether the transport is TLS. */
export function endpointOf(url: string): { host: string; port: number; tls: boolean } {
  const parsed = new URL(url);
  const defaults: Record<string, number> = { 'mqtt:': 1883, 'mqtts:': 8883, 'ws:': 80, 'wss:': 443 };
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port !== '' ? Number(parsed.port) : (defaults[parsed.protocol] ?? 1883),
    tls: parsed.protocol === 'mqtts:' || parsed.protocol === 'wss:',
  };
}

/** The endpoint as it may be logged: no user info, no query (SAS tokens have been put there by some setups). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * mqtt.js keeps a copy of every QoS 1 publish, payload included, until its PUBACK, to send it again
 * if the same client reconnects. The session never lets a client reconnect (each connection is a
 * new client, and what was not acknowledged is sent again from the outbox), so this store keeps only
 * what a PUBACK is matched against: payloads kept until their PUBACK are what a backlog drain moved
 * into V8's old generation (forwarder.ts, MAX_QUEUED_BYTES).
 */
class AcknowledgementOnlyStore extends Store implements IStore {
  override put(packet: Parameters<IStore['put']>[0], cb: Parameters<IStore['put']>[1]): this {
    return super.put({ cmd: packet.cmd, messageId: packet.messageId } as Parameters<IStore['put']>[0], cb);
  }
  /** Nothing to send again on connect: the client this store belongs to has not been connected before. */
  override createStream(): ReturnType<IStore['createStream']> {
    return Readable.from([]) as unknown as ReturnType<IStore['createStream']>;
  }
}
