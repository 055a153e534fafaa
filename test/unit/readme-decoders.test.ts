// The README's compact-encoding decoders (Node.js and Python) are what a customer copies into their
// consumer, so they are run here exactly as printed: taken out of README.md, written to a file and run
// by `node` and `python3` on payloads the agent itself makes (outbox → generic MQTT adapter with
// "encoding": "compact"), and on the README's worked example. They must give what the agent's own
// decoder (src/cloud/adapters/mqtt/compact.ts) gives, reading for reading.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { parseConfigText } from '../../src/agent-config/load.ts';
import type { TelemetryRecord } from '../../src/cloud/adapter.ts';
import { createAdapter } from '../../src/cloud/adapters/index.ts';
import { COMPACT_CONTENT_TYPE, decodeCompact, encodeCompact } from '../../src/cloud/adapters/mqtt/compact.ts';
import { toGenericItem } from '../../src/cloud/adapters/mqtt.ts';
import type { OutboxEntry } from '../../src/outbox/outbox.ts';
import type { Reading } from '../../src/sources/reading.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { open, tempDataDir } from '../helpers/outbox-files.ts';

const README_PATH = new URL('../../README.md', import.meta.url);
const PARENT_HEADING = '## Generic MQTT payload';
const COMPACT_HEADING = '### The compact encoding';
/** A reading id as the outbox makes it (src/outbox/sqlite-outbox.ts, schema.ts): agent id, an 8-character base-36 store epoch, seq. */
const READING_ID = /^(?<agent>.+)-(?<epoch>[0-9a-z]{8})-(?<seq>\d+)$/;

interface Fence {
  lang: string;
  code: string;
}

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trimEnd() === heading);
  if (start < 0) throw new Error(`README.md has no "${heading}" heading: the test finds the compact encoding's documentation under it`);
  const level = heading.indexOf(' ');
  let inFence = false;
  // A "# Python 3" comment inside a code block is not a heading.
  const end = lines.findIndex((line, i) => {
    if (i <= start) return false;
    if (line.startsWith('```')) inFence = !inFence;
    return !inFence && /^#{1,6} /.test(line) && line.indexOf(' ') <= level;
  });
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

function fences(text: string): Fence[] {
  return [...text.matchAll(/^```([\w-]*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => ({ lang: m[1]!.toLowerCase(), code: m[2]! }));
}

function readmeBlocks() {
  const readme = readFileSync(README_PATH, 'utf8');
  const generic = section(readme, PARENT_HEADING);
  const compact = section(readme, COMPACT_HEADING);
  const blocks = fences(compact);
  const find = (what: string, test: (f: Fence) => boolean) => {
    const found = blocks.filter(test);
    if (found.length !== 1) throw new Error(`README.md, "${COMPACT_HEADING}": expected exactly one ${what}, found ${found.length}`);
    return found[0]!;
  };
  const jsonExample = fences(generic.slice(0, generic.indexOf(COMPACT_HEADING))).find((f) => f.lang === 'json');
  if (!jsonExample) throw new Error(`README.md, "${PARENT_HEADING}": no \`\`\`json example of the JSON encoding before "${COMPACT_HEADING}"`);
  return {
    compactText: compact,
    node: find('```js block defining `function decodeCompact` (the Node.js decoder)', (f) => ['js', 'javascript', 'cjs', 'mjs'].includes(f.lang) && /function decodeCompact\s*\(/.test(f.code)).code,
    python: find('```python block defining `def decode_compact` (the Python decoder)', (f) => ['python', 'py'].includes(f.lang) && /def decode_compact\s*\(/.test(f.code)).code,
    example: find('```json worked example of a compact document ("v", "idPrefix", "blocks")', (f) => f.lang === 'json' && f.code.includes('"blocks"')).code,
    jsonExample: jsonExample.code,
  };
}

type Decoded = ReturnType<typeof decodeCompact>;

/** Runs the snippet followed by a harness: base64 payloads (a JSON array) on stdin, one array of readings per payload on stdout. */
function runSnippet(t: TestContext, command: string, file: string, source: string, payloads: Buffer[]): Decoded[] {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-readme-decoder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, file);
  writeFileSync(path, source);
  const run = spawnSync(command, [path], { input: JSON.stringify(payloads.map((p) => p.toString('base64'))), encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw run.error;
  assert.equal(run.status, 0, `the README's decoder run by ${command} ${file} exited with ${run.status}:\n${run.stderr}`);
  return JSON.parse(run.stdout) as Decoded[];
}

// The snippet calls require(): CommonJS, which is what a .js file is unless its package says "type": "module".
const runNodeDecoder = (t: TestContext, snippet: string, payloads: Buffer[]) =>
  runSnippet(t, process.execPath, 'decoder.cjs', `${snippet}\n;process.stdout.write(JSON.stringify(JSON.parse(require('node:fs').readFileSync(0, 'utf8')).map((p) => decodeCompact(Buffer.from(p, 'base64')))));\n`, payloads);

const runPythonDecoder = (t: TestContext, snippet: string, payloads: Buffer[]) =>
  runSnippet(t, 'python3', 'decoder.py', `${snippet}\n\nimport base64 as _b64, json as _json, sys as _sys\n_sys.stdout.write(_json.dumps([decode_compact(_b64.b64decode(p)) for p in _json.load(_sys.stdin)]))\n`, payloads);

let python3Probe: { missing: string | undefined } | undefined;
function python3Missing(): string | undefined {
  if (!python3Probe) {
    const probe = spawnSync('python3', ['--version'], { encoding: 'utf8' });
    python3Probe = { missing: probe.error ? `python3 is not installed (${probe.error.message}): the README's Python decoder cannot be run` : undefined };
  }
  return python3Probe.missing;
}

/** Readings through the real path: appended to a SQLite outbox (real ids), leased, encoded by the generic MQTT adapter with "encoding": "compact". */
function agentBatch(t: TestContext, stores: Reading[][], maxMessageBytes = 256 * 1024) {
  const dataDir = tempDataDir(t);
  const { config } = parseConfigText(
    JSON.stringify({ version: 1, agent: { id: 'gw-1', dataDir }, cloud: { provider: 'mqtt', url: 'mqtt://broker.example.com', encoding: 'compact', maxMessageBytes }, sensors: [] }),
    'test.json',
  );
  const adapter = createAdapter(config.cloud, { agentId: 'gw-1', agentVersion: '0', dataDir, log: captureLog().log, now: Date.now, clockSynchronized: () => true });
  // Each store is a separate outbox (a re-created data dir has a new epoch, so a new id prefix).
  const entries: OutboxEntry[] = stores.flatMap((readings) => {
    const outbox = open(tempDataDir(t));
    try {
      for (const reading of readings) outbox.append(reading);
      outbox.flush();
      return outbox.lease({ max: readings.length, from: 'oldest' })?.entries ?? [];
    } finally {
      outbox.close();
    }
  });
  assert.equal(entries.length, stores.flat().length);
  for (const entry of entries) assert.match(entry.id, READING_ID, 'the outbox makes ids of the documented form');
  const { messages, rejected } = adapter.encodeTelemetry(entries);
  assert.deepEqual(rejected, []);
  return { entries, messages, payloads: messages.map((m) => m.payload as Buffer) };
}

const T0 = 1_764_270_000_000;
const odd = { quote: 'say "hi"\n\ttab \\ slash', unicode: 'ä 温度 🌡', empty: '' };

const cases: { name: string; stores: Reading[][]; maxMessageBytes?: number; messages?: (n: number) => boolean }[] = [
  {
    name: 'a live tick: 10 sensors, one reading each, numbers, strings, booleans and nulls',
    stores: [
      Array.from({ length: 10 }, (_, i) => ({
        sensorId: `sensor-${String(i + 1).padStart(2, '0')}`,
        ts: T0 + i,
        values: { temperature: 21.53 + i / 10, humidity: 45, state: i % 3 === 0 ? 'ok' : odd.unicode, on: i % 2 === 0, fault: null },
      })),
    ],
    messages: (n) => n === 1,
  },
  {
    name: 'a backlog: interleaved sensors, a field missing or added (new blocks), empty values, odd strings and numbers, unsynced clocks',
    stores: [
      [
        ...Array.from({ length: 40 }, (_, i): Reading => {
          const sensorId = ['boiler', 'meter "A"', 'pump', 'temp °C'][i % 4]!;
          if (sensorId === 'boiler') return { sensorId, ts: T0 + i * 250, values: i % 8 === 0 ? { temperature: 20 + i / 4, on: true } : { temperature: 20 + i / 4 } };
          if (sensorId === 'meter "A"') return { sensorId, ts: T0 + i * 250 + 7, values: { kwh: 1234.5 + i, big: 2 ** 53 - 1, tiny: -0.000001, huge: 1e21, negative: -40, missing: null } };
          if (sensorId === 'pump') return { sensorId, ts: T0 + i * 250, values: i % 3 === 0 ? {} : { state: [odd.quote, odd.unicode, odd.empty][i % 3]!, running: false } };
          return { sensorId, ts: T0 + i * 250 + 1, values: { 'value °C': i, 'with "quotes"': null } };
        }),
        // Before the clock was set (a Pi without RTC): small, non-increasing times, so ts deltas go negative.
        { sensorId: 'boiler', ts: 61_000, values: { temperature: 19.5 }, clockUnsynced: true },
        { sensorId: 'boiler', ts: 60_500, values: { temperature: 19.6 }, clockUnsynced: true },
        { sensorId: 'boiler', ts: T0 + 20_000, values: { temperature: 19.7 } },
      ],
    ],
    messages: (n) => n === 1,
  },
  {
    name: 'a backlog split across messages at a 1 KB broker limit',
    stores: [Array.from({ length: 300 }, (_, i) => ({ sensorId: `s${i % 7}`, ts: T0 + i * 100, values: { v: Math.round(Math.sin(i) * 1000) / 10, n: i, label: `reading ${i}` } }))],
    maxMessageBytes: 1024,
    messages: (n) => n > 1,
  },
  {
    name: 'readings of two stores (a re-created data dir: another epoch, another id prefix)',
    stores: [
      [{ sensorId: 'boiler', ts: T0, values: { temperature: 21.5 } }, { sensorId: 'boiler', ts: T0 + 1000, values: { temperature: 21.6 } }],
      [{ sensorId: 'boiler', ts: T0 + 2000, values: { temperature: 21.7 } }],
    ],
    messages: (n) => n === 2,
  },
];

describe("the README's compact decoders, run as printed", () => {
  it('are where the README shows them, and the README names the content type the adapter sends', (t) => {
    const readme = readmeBlocks();
    const { messages } = agentBatch(t, [[{ sensorId: 'boiler', ts: T0, values: { t: 1 } }]]);
    assert.equal(messages[0]!.topic, 'edge-agent/gw-1/compact');
    assert.ok(readme.compactText.includes('`edge-agent/{agentId}/compact`'), 'the README gives the default compact topic');
    assert.deepEqual(messages[0]!.properties, { contentType: COMPACT_CONTENT_TYPE, userProperties: { 'content-encoding': 'deflate' } });
    assert.ok(readme.compactText.includes(COMPACT_CONTENT_TYPE), `the README names the content type ${COMPACT_CONTENT_TYPE}`);
    assert.ok(readme.compactText.includes('content-encoding: deflate'), 'the README names the content-encoding user property');
  });

  for (const c of cases) {
    it(`give what the agent's decoder gives: ${c.name}`, (t) => {
      const { node, python } = readmeBlocks();
      const { entries, payloads } = agentBatch(t, c.stores, c.maxMessageBytes);
      if (c.messages) assert.ok(c.messages(payloads.length), `${payloads.length} messages`);
      const reference = payloads.map((p) => decodeCompact(p, inflateSync));
      // The reference is right: every reading comes back as the JSON encoding carries it, ids included.
      const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
      assert.deepEqual(reference.flat().sort(byId), entries.map((e) => toGenericItem(e as TelemetryRecord)).sort(byId));

      assert.deepEqual(runNodeDecoder(t, node, payloads), reference, "the README's Node.js decoder");
      const missing = python3Missing();
      if (missing) {
        t.skip(missing);
        return;
      }
      assert.deepEqual(runPythonDecoder(t, python, payloads), reference, "the README's Python decoder");
    });
  }

  it("decode the README's worked example to the readings the README says it holds, which is what the agent sends for them", (t) => {
    const { compactText, example, node, python } = readmeBlocks();
    const doc = JSON.parse(example) as { idPrefix: string };
    assert.match(`${doc.idPrefix}1`, READING_ID, "the example's idPrefix has the form of a real one (agent id, 8-character epoch)");
    // As the README's prose says: "the block above holds seqs 1201, 1211, 1221 taken at 1764270000000, …01000, …02000",
    // and the meter's one reading was taken before the clock was set ("unsynced": [0]).
    assert.ok(compactText.includes('1201, 1211, 1221'), 'the README still describes the example block as seqs 1201, 1211, 1221');
    const expected: Decoded = [
      { id: 'gw1-1a2b3c4d-1201', seq: 1201, sensor: 'boiler', ts: 1_764_270_000_000, values: { temperature: 21.5, on: true } },
      { id: 'gw1-1a2b3c4d-1211', seq: 1211, sensor: 'boiler', ts: 1_764_270_001_000, values: { temperature: 21.6, on: true } },
      { id: 'gw1-1a2b3c4d-1221', seq: 1221, sensor: 'boiler', ts: 1_764_270_002_000, values: { temperature: 21.6, on: false } },
      { id: 'gw1-1a2b3c4d-1205', seq: 1205, sensor: 'meter', ts: 1_764_270_000_420, values: { kwh: 1234.5 }, clockUnsynced: true },
    ];
    const payload = deflateSync(JSON.stringify(doc));
    assert.deepEqual(decodeCompact(payload, inflateSync), expected, "the agent's decoder");
    assert.deepEqual(runNodeDecoder(t, node, [payload]), [expected], "the README's Node.js decoder");

    const records: TelemetryRecord[] = expected.map(({ sensor, values, ...r }) => ({ ...r, sensorId: sensor, values: values as TelemetryRecord['values'] }));
    const { messages } = encodeCompact(records, 'edge-agent/gw1/compact', 256 * 1024);
    assert.equal(messages.length, 1);
    assert.deepEqual(JSON.parse(inflateSync(messages[0]!.payload as Buffer).toString('utf8')), doc, 'the agent encodes these readings as the example shows');

    const missing = python3Missing();
    if (missing) {
      t.skip(missing);
      return;
    }
    assert.deepEqual(runPythonDecoder(t, python, [payload]), [expected], "the README's Python decoder");
  });

  it("shows ids of the real form in the JSON encoding's example", () => {
    const items = JSON.parse(readmeBlocks().jsonExample) as { id: string; seq: number }[];
    assert.ok(items.length > 0);
    for (const item of items) {
      const match = READING_ID.exec(item.id);
      assert.ok(match, `README example id ${JSON.stringify(item.id)} is not agentId-<8-character epoch>-seq, the form the outbox gives`);
      assert.equal(Number(match.groups!.seq), item.seq, `README example id ${item.id} ends in its seq ${item.seq}`);
    }
  });
});
