import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import type { TelemetryRecord } from '../../src/cloud/adapter.ts';
import { toWaylayEvent, waylayAdapter, withDefaultPort } from '../../src/cloud/adapters/waylay.ts';
import { captureLog } from '../helpers/capture-log.ts';

const base = { provider: 'waylay', url: 'mqtts://broker.example.io', resourceId: 'pump-7', username: 'dev-user', password: 'dev-pass', domain: 'app.waylay.io' };

function parse(cloud: Record<string, unknown>) {
  return parseConfigText(JSON.stringify({ agent: { id: 'gw1' }, cloud })).config.cloud;
}

function adapter(cloud: Record<string, unknown> = {}, clock = { synced: true, now: 1_700_000_000_000 }) {
  const config = parse({ ...base, ...cloud });
  assert.equal(config.provider, 'waylay');
  if (config.provider !== 'waylay') throw new Error('unreachable');
  const captured = captureLog();
  const a = waylayAdapter.create(config, { agentId: 'gw1', agentVersion: '0', dataDir: '/tmp', log: captured.log, now: () => clock.now, clockSynchronized: () => clock.synced });
  return Object.assign(a, { captured });
}

const record = (seq: number, values: TelemetryRecord['values'], extra: Partial<TelemetryRecord> = {}): TelemetryRecord => ({ id: `gw1-1-${seq}`, seq, sensorId: 'boiler', ts: 1_700_000_000_000 + seq, values, ...extra });

describe('waylay config', () => {
  it('requires domain exactly when topics is "resources", with a located error', () => {
    const { domain: _domain, ...withoutDomain } = base;
    assert.throws(() => parse(withoutDomain), /cloud\.domain .*expected "domain" \(e\.g\. "app\.waylay\.io"\) with topics "resources"/);
    assert.throws(() => parse({ ...base, topics: 'broker-manager' }), /cloud\.domain .*expected no "domain" with topics "broker-manager"/);
    assert.equal(parse({ ...withoutDomain, topics: 'broker-manager' }).provider, 'waylay');
  });
  it('requires the url, and refuses ids that would break topics', () => {
    const { url: _url, ...withoutUrl } = base;
    assert.throws(() => parse(withoutUrl), /cloud\.url/);
    assert.throws(() => parse({ ...base, resourceId: 'a/b' }), /cloud\.resourceId .*without "\/"/);
    assert.throws(() => parse({ ...base, metricNames: '{sensor}' }), /cloud\.metricNames/);
    assert.throws(() => parse({ ...base, maxMessageBytes: '256KB' }), /cloud\.maxMessageBytes/);
  });
  it('fills the documented defaults', () => {
    const config = parse(base);
    assert.equal(config.provider === 'waylay' && config.topics, 'resources');
    assert.deepEqual(config.provider === 'waylay' && config.commandFields, { name: ['command', 'action'], args: ['args'], id: ['id', 'commandId'] });
    assert.equal(config.provider === 'waylay' && config.maxMessageBytes, 128 * 1024);
  });
  it('puts the documented default port on URLs without one', () => {
    assert.equal(withDefaultPort('mqtts://broker.example.io'), 'mqtts://broker.example.io:8883');
    assert.equal(withDefaultPort('mqtt://broker.example.io'), 'mqtt://broker.example.io:1883');
    assert.equal(withDefaultPort('mqtts://broker.example.io:443'), 'mqtts://broker.example.io:443');
    assert.equal(withDefaultPort('wss://broker.example.io/mqtt'), 'wss://broker.example.io/mqtt');
  });
});

describe('waylay connect options and topics', () => {
  it('connects with the resource id as clientId and the device credentials', async () => {
    const options = await adapter({ keepalive: '2m' }).connectOptions();
    assert.deepEqual(options, { url: 'mqtts://broker.example.io:8883', clientId: 'pump-7', username: 'dev-user', password: 'dev-pass', protocolVersion: 4, keepaliveSeconds: 120, persistentSession: true });
    assert.equal((await adapter({ clientId: 'c-1' }).connectOptions()).clientId, 'c-1');
  });
  it('uses the resources topics', () => {
    const a = adapter();
    assert.deepEqual(a.subscriptions(), ['app.waylay.io/resources/pump-7/commands']);
    assert.equal(a.encodeTelemetry([record(1, { t: 1 })]).messages[0]!.topic, 'app.waylay.io/resources/pump-7/events');
  });
  it('uses the broker-manager topics', () => {
    const a = adapter({ topics: 'broker-manager', domain: undefined });
    assert.deepEqual(a.subscriptions(), ['waylay/pump-7/commands']);
    assert.equal(a.encodeTelemetry([record(1, { t: 1 })]).messages[0]!.topic, 'waylay/pump-7/data');
  });
  it('leaves a plaintext URL to the shared link warnings, and explains a refused password once per outage', async () => {
    const a = adapter({ url: 'mqtt://broker.example.io' });
    assert.deepEqual(a.captured.lines, [], 'the agent warns from linkFacts (test/unit/link-warnings.test.ts), the adapter does not');
    await a.onAuthRejected!();
    await a.onAuthRejected!();
    const refused = a.captured.events('waylay-credentials-refused');
    assert.equal(refused.length, 1);
    assert.match(String(refused[0]!.msg), /refused username "dev-user" for resource "pump-7": check cloud\.username and cloud\.password/);
    assert.doesNotMatch(JSON.stringify(a.captured.lines), /dev-pass/);
    a.onConnected!();
    await a.onAuthRejected!();
    assert.equal(a.captured.events('waylay-credentials-refused').length, 2);
  });
});

describe('waylay telemetry', () => {
  it('sends the documented shape byte for byte', () => {
    const { messages, rejected } = adapter().encodeTelemetry([record(1, { temperature: 21.5, on: true }), record(2, { state: 'run' }, { sensorId: 'pump' })]);
    assert.deepEqual(rejected, []);
    assert.equal(messages.length, 1);
    assert.equal(
      messages[0]!.payload,
      '[{"resource":"pump-7","timestamp":1700000000001,"boiler.temperature":21.5,"boiler.on":true},{"resource":"pump-7","timestamp":1700000000002,"pump.state":"run"}]',
    );
    assert.equal(messages[0]!.qos, 1);
  });
  it('leaves out nulls and the timestamp of a reading taken before the clock was set', () => {
    assert.deepEqual(toWaylayEvent(record(1, { t: null, n: Number.NaN, ok: 1 }, { clockUnsynced: true }), 'r', '{sensor}.{field}'), { resource: 'r', 'boiler.ok': 1 });
  });
  it('names metrics by template and never overwrites the envelope', () => {
    assert.deepEqual(toWaylayEvent(record(1, { temperature: 20, timestamp: 5, resource: 'x' }), 'r', '{field}'), { resource: 'r', timestamp: 1_700_000_000_001, temperature: 20, 'boiler.timestamp': 5, 'boiler.resource': 'x' });
    assert.deepEqual(toWaylayEvent(record(1, { t: 1 }), 'r', 'gw1_{sensor}_{field}'), { resource: 'r', timestamp: 1_700_000_000_001, gw1_boiler_t: 1 });
  });
  it('keeps every message within the limit and rejects a reading too large alone', () => {
    const a = adapter({ maxMessageBytes: '2KB' });
    const records = Array.from({ length: 100 }, (_, i) => record(i + 1, { seq: i + 1, label: 'x'.repeat(50) }));
    records.push(record(101, { blob: 'y'.repeat(4096) }));
    const { messages, rejected } = a.encodeTelemetry(records);
    assert.ok(messages.length > 1);
    for (const m of messages) assert.ok(Buffer.byteLength(m.payload) <= 2048, `${Buffer.byteLength(m.payload)} bytes`);
    const seqs = messages.flatMap((m) => (JSON.parse(m.payload as string) as Record<string, number>[]).map((o) => o['boiler.seq']));
    assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i + 1));
    assert.deepEqual(rejected.map((r) => r.record.seq), [101]);
  });
});

describe('waylay commands', () => {
  const topic = 'app.waylay.io/resources/pump-7/commands';
  const decode = (a: ReturnType<typeof adapter>, body: unknown) => a.decodeIncoming({ topic, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) });

  it('reads name, arguments and id from the default fields and answers with an event', () => {
    const a = adapter();
    const [action] = decode(a, { command: 'sensor.read', args: { sensor: 'boiler' }, id: 'c-1' });
    if (action?.kind !== 'command') return assert.fail(`not a command: ${JSON.stringify(action)}`);
    assert.deepEqual({ ...action.command, replyTo: undefined }, { id: 'c-1', name: 'sensor.read', params: { sensor: 'boiler' }, origin: 'waylay', replyTo: undefined });
    const [reply] = a.encodeReply(action.command, { ok: true, status: 200, data: { pong: true } });
    assert.equal(reply!.topic, 'app.waylay.io/resources/pump-7/events');
    assert.equal(reply!.payload, '{"resource":"pump-7","timestamp":1700000000000,"commandId":"c-1","command":"sensor.read","status":"ok","result":{"pong":true}}');
  });
  it('accepts "action" and "commandId", and flat arguments', () => {
    const a = adapter();
    const [action] = decode(a, { action: 'setpoint', commandId: 42, value: 21, resource: 'pump-7' });
    if (action?.kind !== 'command') return assert.fail('not a command');
    assert.equal(action.command.id, '42');
    assert.deepEqual(action.command.params, { value: 21 });
    const [reply] = a.encodeReply(action.command, { ok: false, status: 404, message: 'unknown command "setpoint"' });
    assert.deepEqual(JSON.parse(reply!.payload as string), { resource: 'pump-7', timestamp: 1_700_000_000_000, commandId: '42', command: 'setpoint', status: 'error', result: { code: 404, message: 'unknown command "setpoint"' } });
  });
  it('answers a command without an id with an event without commandId, and gives each its own dispatcher id', () => {
    const a = adapter();
    const [first] = decode(a, { command: 'ping' });
    const [second] = decode(a, { command: 'ping' });
    if (first?.kind !== 'command' || second?.kind !== 'command') return assert.fail('not commands');
    assert.notEqual(first.command.id, second.command.id);
    const body = JSON.parse(a.encodeReply(first.command, { ok: true, status: 200 })[0]!.payload as string) as Record<string, unknown>;
    assert.equal('commandId' in body, false);
    assert.equal(body.status, 'ok');
  });
  it('takes configured fields', () => {
    const a = adapter({ commandFields: { name: ['op'], args: ['input'], id: ['ref'] } });
    const [action] = decode(a, { op: 'ping', input: { x: 1 }, ref: 'r9', command: 'ignored' });
    if (action?.kind !== 'command') return assert.fail('not a command');
    assert.deepEqual([action.command.name, action.command.params, action.command.id], ['ping', { x: 1 }, 'r9']);
  });
  it('decodes a bulk array', () => {
    const actions = decode(adapter(), [{ command: 'ping', id: 1 }, { command: 'status', id: 2 }]);
    assert.deepEqual(actions.map((x) => x.kind === 'command' && x.command.id), ['1', '2']);
  });
  it('answers garbage with an error event, never an exception, keeping the id when there is one', () => {
    const a = adapter();
    for (const payload of ['{', '[]', '"x"', '3', '{"args":{}}', '{"command":""}', '{"command":5}', '{"command":"ping","id":{}}', '\u0000\u00ff', JSON.stringify(Array(33).fill({ command: 'ping' }))]) {
      const actions = decode(a, payload);
      assert.equal(actions.length, 1, payload);
      const [action] = actions;
      if (action?.kind !== 'reply') return assert.fail(`${payload}: ${action?.kind}`);
      const body = JSON.parse(action.messages[0]!.payload as string) as Record<string, unknown>;
      assert.equal(body.status, 'error', payload);
      assert.equal(body.resource, 'pump-7');
      assert.equal((body.result as { code: number }).code, 400);
      assert.equal(action.messages[0]!.topic, 'app.waylay.io/resources/pump-7/events');
    }
    const [withId] = decode(a, { id: 'c-9', args: {} });
    assert.equal(withId?.kind === 'reply' && JSON.parse(withId.messages[0]!.payload as string).commandId, 'c-9');
  });
  it('reports a result too large for one message instead of sending it', () => {
    const a = adapter({ maxMessageBytes: '1KB' });
    const [action] = decode(a, { command: 'config.get', id: 'big' });
    if (action?.kind !== 'command') return assert.fail('not a command');
    const [reply] = a.encodeReply(action.command, { ok: true, status: 200, data: { text: 'z'.repeat(5000) } });
    const body = JSON.parse(reply!.payload as string) as { status: string; result: { code: number } };
    assert.deepEqual([body.status, body.result.code], ['error', 413]);
  });
  it('omits the result timestamp while the clock is unsynchronized, and ignores other topics', () => {
    const a = adapter({}, { synced: false, now: 1000 });
    const [action] = decode(a, { command: 'ping', id: 1 });
    if (action?.kind !== 'command') return assert.fail('not a command');
    assert.equal('timestamp' in JSON.parse(a.encodeReply(action.command, { ok: true, status: 200 })[0]!.payload as string), false);
    assert.equal(a.decodeIncoming({ topic: 'elsewhere', payload: Buffer.from('{}') })[0]?.kind, 'notice');
  });
});
