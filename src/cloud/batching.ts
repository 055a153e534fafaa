import type { EncodedTelemetry, TelemetryRecord } from './adapter.ts';
import type { OutgoingMessage, PublishProperties } from './message.ts';

/**
 * Packs items into JSON arrays whose serialized size stays at or below maxBytes, one topic per
 * message. An item too large to fit even alone is rejected rather than sent (the cloud would refuse
 * it and the outbox would redeliver it forever). This is on the drain hot path: one topicFor call
 * and one JSON.stringify per record.
 */
export function packJsonArrays<T>(
  records: TelemetryRecord[],
  /** The item for a record, or its JSON text already (a string is taken as serialized JSON, not as a JSON string value). */
  toItem: (record: TelemetryRecord) => T | string,
  maxBytes: number,
  topicFor: (record: TelemetryRecord) => string,
  properties?: PublishProperties,
): EncodedTelemetry {
  // Readings of several sensors interleave; with a topic per sensor, packing in arrival order would
  // mean a message per reading.
  const byTopic = new Map<string, TelemetryRecord[]>();
  for (const record of records) {
    const topic = topicFor(record);
    const group = byTopic.get(topic);
    if (group) group.push(record);
    else byTopic.set(topic, [record]);
  }
  const messages: OutgoingMessage[] = [];
  const rejected: EncodedTelemetry['rejected'] = [];
  for (const [topic, group] of byTopic) {
    let parts: string[] = [];
    let bytes = 2; // "[" and "]"
    const flush = () => {
      if (parts.length === 0) return;
      messages.push({ topic, payload: `[${parts.join(',')}]`, qos: 1, ...(properties ? { properties } : {}) });
      parts = [];
      bytes = 2;
    };
    for (const record of group) {
      const item = toItem(record);
      const json = typeof item === 'string' ? item : JSON.stringify(item);
      // Length in UTF-16 units undercounts only non-ASCII text; measure exactly only then.
      const size = json.length === Buffer.byteLength(json) ? json.length : Buffer.byteLength(json);
      if (size + 2 > maxBytes) {
        rejected.push({ record, reason: `reading is ${size} bytes as JSON, more than the cloud's limit of ${maxBytes} bytes per message` });
        continue;
      }
      const extra = size + (parts.length > 0 ? 1 : 0);
      if (bytes + extra > maxBytes) flush();
      bytes += size + (parts.length > 0 ? 1 : 0);
      parts.push(json);
    }
    flush();
  }
  return { messages, rejected };
}
