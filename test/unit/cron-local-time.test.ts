// node-cron reads the local time of a schedule without a time zone from Date, not Intl
// (patches/node-cron+4.6.0.patch): the first Intl.DateTimeFormat loads ICU's locale and zone data,
// ~8 MB of RSS for the agent's whole life (bench/agent-memory.ts). These tests hold the patch to
// what node-cron did before it: the same matches and next runs, across DST changes, in zones with
// odd offsets.
import assert from 'node:assert/strict';
import { after, describe, it, mock } from 'node:test';
import { createTask } from 'node-cron';

const IntlDateTimeFormat = Intl.DateTimeFormat;
const savedTimeZone = process.env.TZ;

/** What node-cron saw through Intl before the patch: the wall clock in the process's zone. */
function wallClock(date: Date): { hour: number; minute: number; second: number } {
  const parts = new IntlDateTimeFormat('en-US', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).formatToParts(date);
  const field = (type: string) => Number(parts.find((p) => p.type === type)!.value) % (type === 'hour' ? 24 : 60);
  return { hour: field('hour'), minute: field('minute'), second: field('second') };
}

/** Counts the Intl.DateTimeFormat objects built while `run` runs. */
function intlFormatsBuiltDuring(run: () => void): number {
  let built = 0;
  Intl.DateTimeFormat = new Proxy(IntlDateTimeFormat, {
    construct(target, args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
      built++;
      return new target(...args);
    },
    apply(target, _this, args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
      built++;
      return target(...args);
    },
  });
  try {
    run();
  } finally {
    Intl.DateTimeFormat = IntlDateTimeFormat;
  }
  return built;
}

// Around each zone's 2026 DST changes (and a plain day for zones without DST).
const ZONES: { zone: string; around: string[] }[] = [
  { zone: 'Europe/Berlin', around: ['2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z'] },
  { zone: 'America/New_York', around: ['2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z'] },
  // A 30-minute DST change.
  { zone: 'Australia/Lord_Howe', around: ['2026-04-04T15:00:00Z', '2026-10-03T15:30:00Z'] },
  // Offsets that are not whole hours.
  { zone: 'Asia/Kathmandu', around: ['2026-06-01T00:00:00Z'] },
  { zone: 'Asia/Kolkata', around: ['2026-06-01T00:00:00Z'] },
  { zone: 'UTC', around: ['2026-06-01T00:00:00Z'] },
];

describe('node-cron local time without Intl', () => {
  after(() => {
    if (savedTimeZone === undefined) delete process.env.TZ;
    else process.env.TZ = savedTimeZone;
  });

  for (const { zone, around } of ZONES) {
    it(`matches the wall clock and finds the next runs in ${zone}`, () => {
      process.env.TZ = zone;
      const quarterHours = createTask('0 */15 * * * *', () => {});
      const halfPastTwo = createTask('0 30 2 * * *', () => {});
      for (const center of around) {
        const from = Date.parse(center) - 3 * 3600_000;
        for (let t = from; t <= from + 6 * 3600_000; t += 5 * 60_000) {
          const date = new Date(t);
          const clock = wallClock(date);
          let matched = false;
          assert.equal(intlFormatsBuiltDuring(() => (matched = quarterHours.match(date))), 0, 'node-cron built an Intl.DateTimeFormat');
          assert.equal(matched, clock.second === 0 && clock.minute % 15 === 0, `${zone} ${date.toISOString()} (local ${clock.hour}:${clock.minute})`);
          assert.equal(halfPastTwo.match(date), clock.hour === 2 && clock.minute === 30 && clock.second === 0);
        }
        mock.timers.enable({ apis: ['Date'], now: from });
        try {
          let runs: Date[] = [];
          assert.equal(intlFormatsBuiltDuring(() => (runs = quarterHours.getNextRuns(24))), 0, 'node-cron built an Intl.DateTimeFormat');
          for (const [i, run] of runs.entries()) {
            const clock = wallClock(run);
            assert.ok(clock.second === 0 && clock.minute % 15 === 0, `${zone}: next run ${run.toISOString()} is at local ${clock.hour}:${clock.minute}:${clock.second}`);
            // A quarter hour later in real time, or up to an hour more where the clock goes back and
            // node-cron runs the repeated wall time once (as it did with Intl).
            const gap = run.getTime() - (runs[i - 1]?.getTime() ?? from - ((from / 60_000) % 15) * 60_000);
            assert.ok(gap > 0 && gap <= 75 * 60_000, `${zone}: ${run.toISOString()} comes ${gap / 60_000} min after the run before it`);
          }
          let daily: Date[] = [];
          assert.equal(intlFormatsBuiltDuring(() => (daily = halfPastTwo.getNextRuns(3))), 0);
          for (const run of daily) assert.deepEqual(wallClock(run), { hour: 2, minute: 30, second: 0 }, `${zone}: ${run.toISOString()}`);
        } finally {
          mock.timers.reset();
        }
      }
    });
  }
});
