// Deterministic hostile input for decoders: random bytes, truncated JSON, fields of the wrong type,
// huge strings, deep nesting, payloads over every cloud's 256 KB limit, and mangled topics.
// Seeded (mulberry32), so a failure names a case that the next run reproduces.
import type { IncomingMessage } from '../../src/cloud/message.ts';
import { seededRandom } from './seeded-random.ts';

export { seededRandom };

export interface FuzzCase {
  /** What the case is, for the assertion message. */
  label: string;
  message: IncomingMessage;
  /** True when only the payload was changed: replies must then go where a real reply would. */
  sameTopic: boolean;
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** Strings a decoder should survive anywhere: empty, long, over 128 characters, control and lone-surrogate characters. */
function hostileStrings(random: () => number): string[] {
  return ['', ' ', 'x'.repeat(128), 'y'.repeat(129), 'z'.repeat(300), 'w'.repeat(20_000), '\u0000\u0001\u001f', '\ud800', '€'.repeat(200), '%', '%E0%A4%A', '../..', '#', '+', `r${Math.floor(random() * 1e9)}`];
}

function hostileValues(random: () => number): unknown[] {
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  return [null, true, 0, -1, 1e308, 1.5, [], {}, [1, 'a'], { a: { b: {} } }, deep, ...hostileStrings(random)];
}

function deepNesting(levels: number, open: string, close: string): string {
  return `${open.repeat(levels)}${close.repeat(levels)}`;
}

/** Payloads that are not what any cloud sends: noise, broken JSON, non-objects, huge and deep documents. */
function payloadNoise(random: () => number, wellFormed: Buffer): Buffer[] {
  const text = wellFormed.toString('utf8');
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const out: Buffer[] = [Buffer.alloc(0), bytes(1), bytes(64), bytes(4096), Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), Buffer.from([0xff, 0xfe, 0x00])];
  for (let i = 0; i < 12; i++) out.push(Buffer.from(text.slice(0, Math.floor(random() * text.length))));
  for (const literal of ['null', 'true', '1', '1e400', '"text"', '[]', '[1,2]', '{}', '{"id":', '{"id":{}}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{}}}']) out.push(Buffer.from(literal));
  out.push(Buffer.from(deepNesting(100_000, '[', ']')), Buffer.from(deepNesting(40, '{"a":', '}').replace(/\}$/, '1}')), Buffer.from(`{"params":${deepNesting(5_000, '[', ']')}}`));
  out.push(Buffer.from(`{"pad":"${'p'.repeat(300 * 1024)}"}`), Buffer.from(`[${Array.from({ length: 40 }, () => text || '{}').join(',')}]`));
  return out;
}

/** The well-formed payload (a JSON object) with one field at a time replaced by a hostile value, and huge extra fields. */
function wrongTypes(random: () => number, wellFormed: Buffer): Buffer[] {
  let body: unknown;
  try {
    body = JSON.parse(wellFormed.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [];
  const record = body as Record<string, unknown>;
  const out: Buffer[] = [];
  for (const key of Object.keys(record)) {
    for (const value of hostileValues(random)) out.push(Buffer.from(JSON.stringify({ ...record, [key]: value })));
    const { [key]: _dropped, ...without } = record;
    out.push(Buffer.from(JSON.stringify(without)));
  }
  out.push(Buffer.from(JSON.stringify({ ...record, extra: 'e'.repeat(200 * 1024) })));
  return out;
}

/** The topic with one level replaced by a hostile string, a level added, or cut short. */
function topicNoise(random: () => number, topic: string): string[] {
  const levels = topic.split('/');
  const out: string[] = [`${topic}/extra`, levels.slice(0, -1).join('/'), `${topic}${'x'.repeat(300)}`, topic.toUpperCase()];
  for (let i = 0; i < levels.length; i++) {
    for (const text of hostileStrings(random)) out.push([...levels.slice(0, i), text, ...levels.slice(i + 1)].join('/'));
  }
  // Azure-like query strings at the end of a topic.
  out.push(topic.replace(/\$rid=[^&]*/, `$rid=${'9'.repeat(300)}`), topic.replace(/\$rid=[^&]*/, '$rid='));
  return [...new Set(out)].filter((t) => t !== topic);
}

/** Fuzz cases built from one well-formed message of a channel: hostile payloads on its topic, then hostile topics. */
export function fuzzFrom(wellFormed: IncomingMessage, seed: number): FuzzCase[] {
  const random = seededRandom(seed);
  const cases: FuzzCase[] = [];
  const payloads = [...payloadNoise(random, wellFormed.payload), ...wrongTypes(random, wellFormed.payload)];
  payloads.forEach((payload, i) => cases.push({ label: `payload #${i} (${payload.length} bytes) on ${wellFormed.topic}`, message: { ...wellFormed, payload }, sameTopic: true }));
  for (const topic of topicNoise(random, wellFormed.topic)) {
    cases.push({ label: `topic ${JSON.stringify(topic.slice(0, 120))}`, message: { ...wellFormed, topic }, sameTopic: false });
    cases.push({ label: `topic ${JSON.stringify(topic.slice(0, 120))} with noise`, message: { ...wellFormed, topic, payload: pick(random, payloads) }, sameTopic: false });
  }
  return cases;
}

/** Messages on topics no command arrives on, with well-formed and hostile payloads. */
export function fuzzUnrelated(topics: string[], wellFormed: Buffer, seed: number): FuzzCase[] {
  const random = seededRandom(seed);
  const payloads = [wellFormed, ...payloadNoise(random, wellFormed)];
  return topics.flatMap((topic) => payloads.map((payload, i) => ({ label: `unrelated topic ${JSON.stringify(topic)} payload #${i}`, message: { topic, payload }, sameTopic: false })));
}
