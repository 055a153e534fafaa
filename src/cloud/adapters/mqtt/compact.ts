// The generic adapter's compact encoding (`cloud.encoding: "compact"`): many readings of many
// sensors in one message, columnar, deflated. Documented with a worked example and decoders in the
// README ("Generic MQTT payload"); changing the layout means a new "v".
//
// Payload: zlib (RFC 1950) deflate of the UTF-8 JSON document
//   {"v":1,"idPrefix":"<agent>-<epoch>-","blocks":[{"sensor":"boiler","fields":["temperature","on"],
//    "seq":[1201,10,10],"ts":[1764270000000,1000,1000],"rows":[[21.5,true],[21.6,true],[21.6,false]],
//    "unsynced":[2]}]}
// A block holds consecutive readings of one sensor with the same field names. seq and ts are
// delta-coded: the first is absolute, each next one is the difference from the one before. A
// reading's id is idPrefix + seq, the same id the JSON encoding carries. "unsynced" (optional) lists
// the rows taken before the gateway clock was set.
import { deflateSync } from 'node:zlib';
import type { EncodedTelemetry, TelemetryRecord } from '../../adapter.ts';
import type { OutgoingMessage, PublishProperties } from '../../message.ts';

export const COMPACT_VERSION = 1;
export const COMPACT_CONTENT_TYPE = 'application/vnd.edge-agent.compact+json';
/** Room kept for the document's frame and deflate's worst case on incompressible input (RFC 1951: 5 bytes per 64 KB block, plus the zlib header). */
const FRAME_RESERVE = 256;

interface Block {
  sensor: string;
  fields: string[];
  key: string;
  seq: number[];
  ts: number[];
  rows: string[];
  unsynced: number[];
  lastSeq: number;
  lastTs: number;
}

export function encodeCompact(records: TelemetryRecord[], topic: string, maxBytes: number, properties?: PublishProperties): EncodedTelemetry {
  const messages: OutgoingMessage[] = [];
  const rejected: EncodedTelemetry['rejected'] = [];
  const budget = maxBytes - FRAME_RESERVE;
  let prefix = '';
  let blocks = new Map<string, Block>();
  let bytes = 0;
  const flush = () => {
    if (blocks.size === 0) return;
    const body = [...blocks.values()].map(
      (b) =>
        `{"sensor":${JSON.stringify(b.sensor)},"fields":${JSON.stringify(b.fields)},"seq":[${b.seq.join(',')}],"ts":[${b.ts.join(',')}],"rows":[${b.rows.join(',')}]${b.unsynced.length > 0 ? `,"unsynced":[${b.unsynced.join(',')}]` : ''}}`,
    );
    const json = `{"v":${COMPACT_VERSION},"idPrefix":${JSON.stringify(prefix)},"blocks":[${body.join(',')}]}`;
    messages.push({ topic, payload: deflateSync(json), qos: 1, ...(properties ? { properties } : {}) });
    blocks = new Map();
    bytes = 0;
  };
  for (const record of records) {
    const seqText = String(record.seq);
    const recordPrefix = record.id.endsWith(seqText) ? record.id.slice(0, record.id.length - seqText.length) : `${record.id}:`;
    if (recordPrefix !== prefix) {
      flush();
      prefix = recordPrefix;
    }
    const fields = Object.keys(record.values);
    const row = JSON.stringify(fields.map((f) => record.values[f]));
    const key = `${record.sensorId}\u0000${fields.join('\u0000')}`;
    let block = blocks.get(key);
    const blockCost = block ? 0 : record.sensorId.length + key.length + fields.length * 3 + 64;
    const cost = row.length + 1 + seqText.length + 1 + 14 + blockCost;
    if (cost > budget) {
      rejected.push({ record, reason: `reading is about ${cost} bytes encoded, more than the broker's limit of ${maxBytes} bytes per message` });
      continue;
    }
    if (bytes + cost > budget) {
      flush();
      block = undefined;
    }
    if (!block) {
      block = { sensor: record.sensorId, fields, key, seq: [record.seq], ts: [record.ts], rows: [row], unsynced: [], lastSeq: record.seq, lastTs: record.ts };
      blocks.set(key, block);
    } else {
      block.seq.push(record.seq - block.lastSeq);
      block.ts.push(record.ts - block.lastTs);
      block.rows.push(row);
      block.lastSeq = record.seq;
      block.lastTs = record.ts;
    }
    if (record.clockUnsynced) block.unsynced.push(block.rows.length - 1);
    bytes += cost;
  }
  flush();
  return { messages, rejected };
}

/** Reads a compact payload back into readings (tests and the README's reference decoder do the same). */
export function decodeCompact(payload: Buffer, inflate: (data: Buffer) => Buffer): { id: string; seq: number; sensor: string; ts: number; values: Record<string, unknown>; clockUnsynced?: true }[] {
  const doc = JSON.parse(inflate(payload).toString('utf8')) as { v: number; idPrefix: string; blocks: { sensor: string; fields: string[]; seq: number[]; ts: number[]; rows: unknown[][]; unsynced?: number[] }[] };
  if (doc.v !== COMPACT_VERSION) throw new Error(`unknown compact version ${doc.v}`);
  const readings = [];
  for (const block of doc.blocks) {
    let seq = 0;
    let ts = 0;
    const unsynced = new Set(block.unsynced ?? []);
    for (let i = 0; i < block.rows.length; i++) {
      seq = i === 0 ? block.seq[0]! : seq + block.seq[i]!;
      ts = i === 0 ? block.ts[0]! : ts + block.ts[i]!;
      const values = Object.fromEntries(block.fields.map((f, j) => [f, block.rows[i]![j]]));
      readings.push({ id: doc.idPrefix + seq, seq, sensor: block.sensor, ts, values, ...(unsynced.has(i) ? { clockUnsynced: true as const } : {}) });
    }
  }
  return readings;
}
