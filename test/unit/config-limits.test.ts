// Issue #16 (4, 5): check-config must stay linear in the number of problems, cap what it lists, and
// refuse files too large or too deep with a location instead of overflowing the stack.
// Timings are printed, never asserted: the machine running the tests is shared.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfigFile, parseConfigText, validateConfigObject } from '../../src/agent-config/load.ts';
import { MAX_CONFIG_BYTES, MAX_NESTING } from '../../src/config/input-limits.ts';
import { MAX_LISTED_PROBLEMS } from '../../src/errors.ts';
import { refusal } from '../helpers/config-refusal.ts';

const CLOUD = '"cloud": { "provider": "mqtt", "url": "mqtt://127.0.0.1:1883" }';


function timed<T>(label: string, work: () => T): T {
  const start = performance.now();
  const result = work();
  console.log(`# ${label}: ${(performance.now() - start).toFixed(0)} ms`);
  return result;
}

describe('config: many problems', () => {
  it('checks a 20,000-problem file in one pass and lists the first 100', () => {
    // Two problems per sensor (a duration without a unit, an unknown key), about 600 KB.
    const sensors = Array.from({ length: 10_000 }, (_, i) => `{"id":"s${i}","type":"simulated","interval":"fast","colour":1}`);
    const text = `{${CLOUD},\n"sensors":[\n${sensors.join(',\n')}\n]}\n`;
    const error = timed(`20,000 problems in ${(text.length / 1024).toFixed(0)} KB`, () => refusal(() => parseConfigText(text, 'big.json')));
    assert.equal(error.total, 20_000);
    assert.equal(error.problems.length, MAX_LISTED_PROBLEMS);
    // File order: sensor 0's interval, then its unknown key, then sensor 1.
    assert.deepEqual(error.problems.slice(0, 3).map((p) => [p.path, p.line]), [['sensors[0].interval', 3], ['sensors[0].colour', 3], ['sensors[1].interval', 4]]);
    assert.match(error.message, /^big\.json: 20,000 problems\n/);
    assert.match(error.message, /\n {2}… and 19,900 more$/);
    assert.equal(error.message.split('\n').length, 1 + MAX_LISTED_PROBLEMS + 1);
  });

  it('checks 10,000 duplicate sensor ids in one pass', () => {
    const sensors = Array.from({ length: 10_000 }, () => '{ "id": "same", "type": "simulated", "interval": "1s" }');
    const text = `{${CLOUD},\n"sensors": [\n${sensors.join(',\n')}\n]}\n`;
    const error = timed('10,000 duplicate sensor ids', () => refusal(() => parseConfigText(text, 'dups.json')));
    assert.equal(error.total, 9_999);
    assert.deepEqual(error.problems[0], { path: 'sensors[1].id', line: 4, column: 9, message: 'expected a unique sensor id, found "same" again (first at sensors[0])' });
  });

  it('checks 100,000 unknown keys in one object (one issue, too many for a spread call)', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `"k${i}": 0`).join(',');
    const error = timed('100,000 unknown keys', () => refusal(() => parseConfigText(`{${CLOUD}, "agent": {${keys}}}`)));
    assert.equal(error.total, 100_000);
    assert.equal(error.problems[0]!.path, 'agent.k0');
  });

  it('lists the first syntax errors of a file full of them, and counts the rest', () => {
    const error = timed('200,000 syntax errors', () => refusal(() => parseConfigText(`{"sensors": [${', '.repeat(200_000)}]}`)));
    assert.ok(error.total >= 200_000, String(error.total));
    assert.equal(error.problems.length, MAX_LISTED_PROBLEMS);
    assert.match(error.problems[0]!.message, /JSON syntax error/);
  });

  it('points at the value of a duplicated key that was checked: the last one', () => {
    const error = refusal(() => parseConfigText(`{${CLOUD},\n"outbox": { "whenFull": "x",\n"whenFull": "y" }}`));
    assert.deepEqual(
      error.problems.map((p) => [p.path, p.line]),
      [['outbox.whenFull', 3], ['outbox.whenFull', 3]],
    );
    assert.match(error.problems[0]!.message, /appears twice/);
    assert.match(error.problems[1]!.message, /found "y"/);
  });
});

describe('config: nesting', () => {
  it(`refuses 100,000 "[" with the line and column where level ${MAX_NESTING + 1} opens`, () => {
    const error = refusal(() => parseConfigText(`{\n  "sensors": ${'['.repeat(100_000)}`));
    assert.deepEqual(error.problems, [{ path: '', line: 2, column: 14 + MAX_NESTING - 1, message: `expected at most ${MAX_NESTING} levels of nested { } and [ ], found deeper nesting here` }]);
  });

  it('refuses 60,000 nested objects', () => {
    const text = `${'{"a":'.repeat(60_000)}1${'}'.repeat(60_000)}`;
    const error = refusal(() => parseConfigText(text));
    assert.equal(error.problems[0]!.line, 1);
    assert.equal(error.problems[0]!.column, MAX_NESTING * 5 + 1);
  });

  it('is not fooled by closers of the wrong kind, which the parser skips', () => {
    // Each repetition nests an array and an object in the parser; the stray "]" close nothing.
    const text = `{"a":${'[{"b":]]]],"c":'.repeat(20_000)}1}`;
    const error = refusal(() => parseConfigText(text));
    assert.match(error.problems[0]!.message, /levels of nested/);
  });

  it('ignores brackets in strings and comments', () => {
    const { config } = parseConfigText(`{\n  // ${'[{'.repeat(100)}\n  /* ${'[{'.repeat(100)} */\n  "agent": { "id": "gw" },\n  ${CLOUD},\n  "commands": { "allow": ["${'[{'.repeat(100)}"] }\n}`);
    assert.equal(config.agent.id, 'gw');
  });

  it('refuses a deep object from a config push before JSON.stringify recurses into it', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const error = refusal(() => validateConfigObject({ cloud: { provider: 'mqtt', url: 'mqtt://x' }, agent: deep }, 'config change from test'));
    assert.equal(error.file, 'config change from test');
    assert.equal(error.problems[0]!.path, `agent${'.a'.repeat(MAX_NESTING - 1)}`);
    assert.match(error.problems[0]!.message, /levels of nested/);
  });
});

describe('config: size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-config-size-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses text larger than the limit before parsing it', () => {
    const text = `{${CLOUD}, "//": "${'x'.repeat(MAX_CONFIG_BYTES)}"}`;
    const error = refusal(() => parseConfigText(text));
    assert.match(error.message, /expected a config of at most 4MB, found 4MB .*is this the right file\?/);
  });

  it('refuses a file larger than the limit without reading it', () => {
    const file = join(dir, 'huge.json');
    writeFileSync(file, Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20));
    const error = refusal(() => loadConfigFile(file));
    assert.deepEqual(error.problems.map((p) => p.path), ['']);
    assert.match(error.message, /at most 4MB/);
  });
});
