import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { loadConfigFile, parseConfigText } from '../../src/agent-config/load.ts';
import { Secret } from '../../src/config/primitives.ts';
import { problemsOf } from '../helpers/config-refusal.ts';

const root = join(import.meta.dirname, '../..');
const badDir = join(root, 'test/fixtures/configs/bad');
const expected = JSON.parse(readFileSync(join(root, 'test/fixtures/configs/expected.json'), 'utf8')) as Record<string, { path: string; line: number; column: number; contains: string[] }>;


describe('config: the example', () => {
  it('loads with defaults applied and durations and sizes parsed', () => {
    const { config } = loadConfigFile(join(root, 'agent.config.json'));
    assert.equal(config.cloud.provider, 'mqtt');
    assert.equal(config.outbox.commitInterval, 100);
    assert.equal(config.outbox.maxBytes, 256 * 1024 * 1024);
    assert.equal(config.outbox.maxAge, 30 * 24 * 3600 * 1000);
    assert.deepEqual(config.sensors.map((s) => s.id), ['room-1']);
  });
});

describe('config: broken fixtures', () => {
  const files = readdirSync(badDir).filter((f) => f.endsWith('.json'));
  it('has at least 15 broken fixtures, each with an expectation', () => {
    assert.ok(files.length >= 15, `only ${files.length} fixtures`);
    for (const file of files) assert.ok(expected[file], `no expectation for ${file}`);
  });
  for (const file of files) {
    it(`${file}: names path, line and column`, () => {
      const want = expected[file]!;
      const error = problemsOf(readFileSync(join(badDir, file), 'utf8'));
      const first = error.problems[0]!;
      assert.equal(first.path === '' ? '(file)' : first.path, want.path);
      assert.equal(first.line, want.line);
      if (want.column !== undefined) assert.equal(first.column, want.column);
      for (const words of want.contains) assert.ok(error.message.includes(words), `message lacks ${JSON.stringify(words)}:\n${error.message}`);
      assert.match(error.message, /\(line \d+, col \d+\)/);
    });
  }
});

describe('config: reporting', () => {
  it('reports every problem at once, in file order', () => {
    const error = problemsOf(`{
  "agent": { "logLevel": "loud" },
  "cloud": { "provider": "mqtt", "url": "mqtt://x", "inFlight": -1 },
  "outbox": { "whenFull": "explode" }
}`);
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['agent.logLevel', 'cloud.inFlight', 'outbox.whenFull'],
    );
  });

  it('never echoes a secret value in an error', () => {
    const error = problemsOf('{ "cloud": { "provider": "mqtt", "url": "mqtt://x", "password": 123456789 } }');
    assert.ok(!error.message.includes('123456789'), error.message);
    assert.match(error.message, /cloud\.password/);
  });

  it('suggests the nearest key inside a sensor', () => {
    const error = problemsOf('{ "cloud": { "provider": "mqtt", "url": "mqtt://x" }, "sensors": [ { "id": "a", "type": "simulated", "intervall": "1s" } ] }');
    assert.match(error.message, /sensors\[0\]\.intervall .*did you mean "interval"/);
  });

  it('accepts comments and trailing commas', () => {
    const { config } = parseConfigText('{\n  // comment\n  "cloud": { "provider": "mqtt", "url": "mqtt://x", /* inline */ },\n}');
    assert.equal(config.cloud.provider, 'mqtt');
  });
});

describe('config: secrets', () => {
  it('reads {env} and {file} secrets and never prints them', () => {
    process.env.EDGE_AGENT_TEST_SECRET = 'hunter2';
    const { config } = parseConfigText('{ "cloud": { "provider": "mqtt", "url": "mqtt://x", "password": { "env": "EDGE_AGENT_TEST_SECRET" } } }');
    const password = (config.cloud as { password?: Secret }).password!;
    assert.equal(password.reveal(), 'hunter2');
    assert.ok(!JSON.stringify(config).includes('hunter2'));
    assert.ok(!inspect(config, { depth: 10 }).includes('hunter2'));
    assert.ok(!`${String(password)}`.includes('hunter2'));
  });
});
