import type { EncodedTelemetry, TelemetryRecord } from './adapter.ts';
import type { OutgoingMessage, PublishProperties } from './message.ts';

/**
 * Packs items into JSON arrays whose serialized size stays at or below maxBytes.
 * An item too large to fit even alone is rejected rather than sent (the cloud would refuse it
 * and the outbox would redeliver it forever).
 */
export function packJsonArrays<T>(
  records: TelemetryRecord[],
  toItem: (record: TelemetryRecord) => T,
  maxBytes: number,
  topicFor: (first: TelemetryRecord) => string,
  properties?: PublishProperties,
): EncodedTelemetry {
  const messages: OutgoingMessage[] = [];
  const rejected: EncodedTelemetry['rejected'] = [];
  let parts: string[] = [];
  let first: TelemetryRecord | undefined;
  let bytes = 2; // "[" and "]"
  const flush = () => {
    if (parts.length === 0 || !first) return;
    messages.push({ topic: topicFor(first), payload: `[${parts.join(',')}]`, qos: 1, ...(properties ? { properties } : {}) });
    parts = [];
    first = undefined;
    bytes = 2;
  };
  for (const record of records) {
    const json = JSON.stringify(toItem(record));
    const size = Buffer.byteLength(json);
    if (size + 2 > maxBytes) {
      rejected.push({ record, reason: `reading is ${size} bytes as JSON, more than the cloud's limit of ${maxBytes} bytes per message` });
      continue;
    }
    const extra = size + (parts.length > 0 ? 1 : 0);
    if (bytes + extra > maxBytes || (first && topicFor(first) !== topicFor(record))) flush();
    if (!first) first = record;
    bytes += size + (parts.length > 0 ? 1 : 0);
    parts.push(json);
  }
  flush();
  return { messages, rejected };
}
