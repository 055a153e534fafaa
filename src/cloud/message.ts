// The language between the session (which does all I/O) and the cloud adapters (which hold none).

/** MQTT 5 publish properties the adapters use; ignored on MQTT 3.1.1 connections. */
export interface PublishProperties {
  contentType?: string;
  correlationData?: Buffer;
  responseTopic?: string;
  userProperties?: Record<string, string>;
}

export interface OutgoingMessage {
  topic: string;
  payload: string | Buffer;
  /** Default 1. No cloud here accepts QoS 2, so it cannot be asked for. */
  qos?: 0 | 1;
  properties?: PublishProperties;
}

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  properties?: PublishProperties;
}

/** A payload's size on the wire, in bytes (a string counts as UTF-8). */
export function payloadBytes(message: OutgoingMessage): number {
  return typeof message.payload === 'string' ? Buffer.byteLength(message.payload) : message.payload.length;
}
