// Report modes with worked examples: which readings of a sensor reach the outbox under "every",
// "change" (deadbands absolute and percent, heartbeat, booleans, strings, errors) and "window"
// (aggregates, wall-clock boundaries, a quiet sensor, a stop mid-window). Timing runs on a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../../src/agent-config/schema.ts';
import type { FieldValue, Reading } from '../../src/sources/reading.ts';
import { reportSchema } from '../../src/sources/report/report-config.ts';
import { createReporter, type Reporter } from '../../src/sources/report/reporter.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

function harness(report: unknown, clock = new FakeClock(T0)) {
  const out: Reading[] = [];
  const reporter: Reporter = createReporter({ sensorId: 'boiler', config: report === undefined ? undefined : reportSchema.parse(report), emit: (r) => out.push(r), timers: clock, elapsed: clock.now });
  const offer = (values: Record<string, FieldValue>, extra: Partial<Reading> = {}) => reporter.offer({ sensorId: 'boiler', ts: clock.now(), values, ...extra });
  return { out, reporter, offer, clock };
}

describe('report mode "every"', () => {
  it('passes every reading on, as today', () => {
    const { out, reporter, offer } = harness(undefined);
    for (const v of [1, 1, 1]) offer({ v });
    assert.equal(out.length, 3);
    assert.equal(reporter.reported, 3);
    assert.equal(reporter.mode, 'every');
  });
});

describe('report mode "change"', () => {
  it('absolute deadband 0.2: reports a move of more than 0.2 from the last reported value, so a slow drift adds up', async () => {
    const { out, offer, clock } = harness({ mode: 'change', deadband: 0.2, heartbeat: 'off' });
    for (const t of [20, 20.1, 20.15, 20.25, 20.4, 20.5, 20.3, 20.29]) {
      offer({ t });
      await clock.advance(1000);
    }
    // 20 (first), 20.25 (+0.25), 20.5 (+0.25 from 20.25); 20.29 is 0.21 below 20.5.
    assert.deepEqual(out.map((r) => r.values.t), [20, 20.25, 20.5, 20.29]);
  });

  it('percent deadband "1%": of the last reported value', () => {
    const { out, offer } = harness({ mode: 'change', deadband: '1%', heartbeat: 'off' });
    for (const p of [200, 201.5, 202.5, 200.6, 200.4]) offer({ p });
    // Band 2 around 200: 202.5 goes. Band 2.025 around 202.5: 200.6 is 1.9 below, 200.4 is 2.1 below.
    assert.deepEqual(out.map((r) => r.values.p), [200, 202.5, 200.4]);
  });

  it('no deadband: any change of a number', () => {
    const { out, offer } = harness({ mode: 'change', heartbeat: 'off' });
    for (const v of [1, 1, 1.0001, 1.0001, 1]) offer({ v });
    assert.deepEqual(out.map((r) => r.values.v), [1, 1.0001, 1]);
  });

  it('heartbeat: the current value at least every heartbeat while nothing changes', async () => {
    const { out, offer, clock } = harness({ mode: 'change', deadband: 5, heartbeat: '5s' });
    for (let s = 0; s <= 12; s++) {
      offer({ t: 20 + (s % 2) * 0.1 });
      await clock.advance(1000);
    }
    assert.deepEqual(
      out.map((r) => (r.ts - T0) / 1000),
      [0, 5, 10],
    );
  });

  it('the default heartbeat is 10 minutes', async () => {
    const { out, offer, clock } = harness({ mode: 'change', deadband: 1 });
    for (let s = 0; s <= 1200; s += 60) {
      offer({ t: 20 });
      await clock.advance(60_000);
    }
    assert.deepEqual(
      out.map((r) => (r.ts - T0) / 60_000),
      [0, 10, 20],
    );
  });

  it('booleans and strings report on any change, and a reported reading goes whole', () => {
    const { out, offer } = harness({ mode: 'change', deadband: 100, heartbeat: 'off' });
    offer({ t: 20, door: false, state: 'idle' });
    offer({ t: 21, door: false, state: 'idle' });
    offer({ t: 22, door: true, state: 'idle' });
    offer({ t: 23, door: true, state: 'heating' });
    offer({ t: 24, door: true, state: 'heating' });
    assert.deepEqual(
      out.map((r) => r.values),
      [
        { t: 20, door: false, state: 'idle' },
        { t: 22, door: true, state: 'idle' },
        { t: 23, door: true, state: 'heating' },
      ],
    );
  });

  it('a sensor error is never hidden by the deadband: a value turning null, a field disappearing or appearing', () => {
    const { out, offer } = harness({ mode: 'change', deadband: 100, heartbeat: 'off' });
    offer({ t: 20, p: 1 });
    offer({ t: null, p: 1 });
    offer({ t: 20, p: 1 });
    offer({ p: 1 });
    offer({ p: 1 });
    offer({ p: 1, alarm: 'E7' });
    assert.deepEqual(
      out.map((r) => r.values),
      [{ t: 20, p: 1 }, { t: null, p: 1 }, { t: 20, p: 1 }, { p: 1 }, { p: 1, alarm: 'E7' }],
    );
  });

  it('per field: its own deadband, and "ignore" for a counter that changes every time', () => {
    const { out, offer } = harness({ mode: 'change', deadband: 0.5, heartbeat: 'off', fields: { pressure: { deadband: '10%' }, seq: { ignore: true } } });
    offer({ seq: 1, t: 20, pressure: 100 });
    offer({ seq: 2, t: 20.4, pressure: 109 });
    offer({ seq: 3, t: 20.4, pressure: 111 });
    offer({ seq: 4, t: 20.5, pressure: 111 });
    offer({ seq: 5, t: 21, pressure: 111 });
    assert.deepEqual(
      out.map((r) => r.values.seq),
      [1, 3, 5],
    );
  });

  it('after a restart the first reading of each sensor is reported', () => {
    const config = { mode: 'change', deadband: 10, heartbeat: 'off' };
    const first = harness(config);
    first.offer({ t: 20 });
    first.offer({ t: 20 });
    const restarted = harness(config);
    restarted.offer({ t: 20 });
    assert.equal(first.out.length + restarted.out.length, 2);
  });
});

describe('report mode "window"', () => {
  it('one reading per window on wall-clock minutes, with the aggregates as <field>_<aggregate>', async () => {
    const clock = new FakeClock(T0 + 20_000);
    const { out, offer } = harness({ mode: 'window', every: '1m', aggregates: ['min', 'max', 'avg', 'first', 'last', 'count'] }, clock);
    for (const t of [20, 22, 21]) {
      offer({ t });
      await clock.advance(t === 21 ? 9_000 : 15_000);
    }
    // 10:00:20, :35, :50 are in the window 10:00-10:01, still open at 10:00:59; it closes by itself at 10:01:00.
    assert.equal(out.length, 0);
    await clock.advance(1_000);
    assert.equal(out.length, 1);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.ts, T0, 'labelled with the window start');
    assert.deepEqual(out[0]!.values, { t_min: 20, t_max: 22, t_avg: 21, t_first: 20, t_last: 21, t_count: 3 });
  });

  it('across boundaries: each window its own reading, a quiet window none', async () => {
    const clock = new FakeClock(T0);
    const { out, offer } = harness({ mode: 'window', every: '10s' }, clock);
    for (const [at, t] of [
      [1, 1],
      [9, 3],
      [11, 10],
      [35, 7],
      [36, 8],
    ] as const) {
      await clock.advance(T0 + at * 1000 - clock.now());
      offer({ t });
    }
    await clock.advance(10_000);
    assert.deepEqual(
      out.map((r) => [(r.ts - T0) / 1000, r.values]),
      [
        [0, { t_min: 1, t_max: 3, t_avg: 2 }],
        [10, { t_min: 10, t_max: 10, t_avg: 10 }],
        [30, { t_min: 7, t_max: 8, t_avg: 7.5 }],
      ],
    );
  });

  it('strings and booleans carry their last value; a field that was only null shows null', async () => {
    const clock = new FakeClock(T0);
    const { out, offer } = harness({ mode: 'window', every: '1m', fields: { state: { aggregates: ['first', 'last'] } } }, clock);
    offer({ t: 20, state: 'idle', door: false, probe: null });
    offer({ t: 21.3, state: 'heating', door: true, probe: null });
    await clock.advance(60_000);
    assert.deepEqual(out[0]!.values, { t_min: 20, t_max: 21.3, t_avg: 20.65, state_first: 'idle', state_last: 'heating', door_last: true, probe_min: null, probe_max: null, probe_avg: null });
  });

  it('before the clock is synchronized, a window starts at its first reading and the result is flagged', async () => {
    const clock = new FakeClock(T0 + 7_000);
    const { out, offer } = harness({ mode: 'window', every: '1m' }, clock);
    offer({ t: 1 }, { clockUnsynced: true });
    await clock.advance(59_000);
    assert.equal(out.length, 0);
    await clock.advance(1_000);
    assert.equal(out[0]!.ts, T0 + 7_000);
    assert.equal(out[0]!.clockUnsynced, true);
  });

  it('a stop mid-window reports what the window holds; nothing after', async () => {
    const clock = new FakeClock(T0);
    const { out, offer, reporter } = harness({ mode: 'window', every: '1m' }, clock);
    offer({ t: 5 });
    reporter.stop();
    assert.deepEqual(out[0]!.values, { t_min: 5, t_max: 5, t_avg: 5 });
    await clock.advance(120_000);
    assert.equal(out.length, 1);
    assert.equal(reporter.reported, 1);
  });

  it('keeps its state bounded when a line sensor invents a new field on every line', async () => {
    const clock = new FakeClock(T0);
    const { out, offer } = harness({ mode: 'window', every: '1m' }, clock);
    for (let i = 0; i < 10_000; i++) offer({ [`k${i}`]: i });
    await clock.advance(60_000);
    assert.equal(Object.keys(out[0]!.values).length, 256 * 3);
  });
});

describe('report config', () => {
  const problem = (report: unknown) => {
    const result = configSchema.safeParse({ cloud: { provider: 'mqtt', url: 'mqtt://localhost' }, sensors: [{ id: 'b', type: 'simulated', report }] });
    assert.equal(result.success, false, `accepted ${JSON.stringify(report)}`);
    return result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };

  it('refuses a key that belongs to another mode, naming the mode it needs', () => {
    assert.match(problem({ deadband: 0.2 }), /sensors\.0\.report\.deadband: expected "mode": "change" for "deadband" \(it applies only there\), found "mode": "every"/);
    assert.match(problem({ mode: 'window', every: '1m', heartbeat: '5m' }), /report\.heartbeat: expected "mode": "change" for "heartbeat"/);
    assert.match(problem({ mode: 'change', every: '1m' }), /report\.every: expected "mode": "window" for "every"/);
    assert.match(problem({ mode: 'change', fields: { t: { aggregates: ['min'] } } }), /report\.fields\.t\.aggregates: expected "mode": "window" for "aggregates"/);
    assert.match(problem({ mode: 'window' }), /report\.every: expected "every", the window length/);
  });

  it('refuses bad values with what it expected', () => {
    assert.match(problem({ mode: 'change', deadband: 'lots' }), /deadband/);
    assert.match(problem({ mode: 'change', deadband: -1 }), /deadband/);
    assert.match(problem({ mode: 'window', every: '1m', aggregates: ['median'] }), /"min", "max", "avg", "last", "count", "first"/);
    assert.match(problem({ mode: 'window', every: '1m', aggregates: ['min', 'min'] }), /each aggregate once/);
    assert.match(problem({ mode: 'sometimes' }), /"every", "change" or "window"/);
  });

  it('parses deadbands, durations and defaults', () => {
    assert.deepEqual(reportSchema.parse({ mode: 'change', deadband: '1.5%', heartbeat: '2m' }), { mode: 'change', deadband: { kind: 'percent', value: 1.5 }, heartbeat: 120_000 });
    assert.deepEqual(reportSchema.parse({}), { mode: 'every' });
    assert.equal(reportSchema.parse({ mode: 'change', heartbeat: 'off' }).heartbeat, 'off');
  });
});
