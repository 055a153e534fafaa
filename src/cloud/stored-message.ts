// The format of the outbox's reserved lane: command replies and events that could not be published
// at once wait there as JSON. Buffers (binary payloads, MQTT 5 correlation data) travel as base64.
// Written by the reply lane (reply-lane.ts, its only writer), read back by the forwarder when it
// leases a reserved entry; both sides go through this pair, so the format lives in one place.
import type { OutgoingMessage } from './message.ts';

export interface StoredMessage {
  kind: 'message';
  topic: string;
  payload: string;
  binary?: true;
  qos: 0 | 1;
  contentType?: string;
  responseTopic?: string;
  correlationData?: string;
  userProperties?: Record<string, string>;
}

export function toStoredMessage(message: OutgoingMessage): StoredMessage {
  const properties = message.properties ?? {};
  return {
    kind: 'message',
    topic: message.topic,
    ...(typeof message.payload === 'string' ? { payload: message.payload } : { payload: message.payload.toString('base64'), binary: true as const }),
    qos: message.qos ?? 1,
    ...(properties.contentType ? { contentType: properties.contentType } : {}),
    ...(properties.responseTopic ? { responseTopic: properties.responseTopic } : {}),
    ...(properties.correlationData ? { correlationData: properties.correlationData.toString('base64') } : {}),
    ...(properties.userProperties ? { userProperties: properties.userProperties } : {}),
  };
}

export function fromStoredMessage(body: unknown): OutgoingMessage | undefined {
  if (typeof body !== 'object' || body === null || (body as StoredMessage).kind !== 'message') return undefined;
  const stored = body as StoredMessage;
  const properties = {
    ...(stored.contentType ? { contentType: stored.contentType } : {}),
    ...(stored.responseTopic ? { responseTopic: stored.responseTopic } : {}),
    ...(stored.correlationData ? { correlationData: Buffer.from(stored.correlationData, 'base64') } : {}),
    ...(stored.userProperties ? { userProperties: stored.userProperties } : {}),
  };
  return {
    topic: stored.topic,
    payload: stored.binary ? Buffer.from(stored.payload, 'base64') : stored.payload,
    qos: stored.qos,
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
  };
}
