// A sensor's `report` section: which of its readings are worth storing and sending. One object
// with every key optional, checked as a whole, so a key that does not belong to the chosen mode
// is refused with its location and the mode that would take it, not as an unknown key.
import { z } from 'zod';
import { duration } from '../../config/primitives.ts';

export const AGGREGATES = ['min', 'max', 'avg', 'last', 'count', 'first'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** An absolute change (`0.2`) or a percentage of the last reported value (`"1%"`). */
export type Deadband = { kind: 'absolute'; value: number } | { kind: 'percent'; value: number };

const deadband = z
  .union([z.number().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*%\s*$/, 'expected a percentage such as "1%"')], {
    error: 'expected a deadband: a number (an absolute change, e.g. 0.2) or a percentage of the last reported value (e.g. "1%")',
  })
  .transform((value): Deadband => (typeof value === 'number' ? { kind: 'absolute', value } : { kind: 'percent', value: Number.parseFloat(value) }))
  .meta({ description: 'Smallest change that is reported: a number (absolute, e.g. 0.2) or a percentage of the last reported value (e.g. "1%"). Default 0: any change.' });

const aggregates = z
  .array(z.enum(AGGREGATES, { error: `expected one of ${AGGREGATES.map((a) => `"${a}"`).join(', ')}` }))
  .min(1)
  .max(AGGREGATES.length)
  .refine((list) => new Set(list).size === list.length, 'expected each aggregate once')
  .meta({ description: `Per numeric field, any of ${AGGREGATES.join(', ')}; each becomes a field named <field>_<aggregate> (e.g. temperature_avg). Strings and booleans take first, last and count.` });

const fieldSchema = z
  .strictObject({
    deadband: deadband.optional(),
    ignore: z.boolean().optional().meta({ description: 'Changes of this field alone never make a report (a counter, an uptime); its value still goes with every reported reading.' }),
    aggregates: aggregates.optional(),
  })
  .meta({ description: 'Settings for one field that differ from the sensor-wide ones.' });

/** The heartbeat when the config gives none: a sensor whose value stands still is heard from every 10 minutes. */
export const DEFAULT_HEARTBEAT_MS = 10 * 60_000;
export const DEFAULT_AGGREGATES: readonly Aggregate[] = ['min', 'max', 'avg'];

export const reportSchema = z
  .strictObject({
    mode: z.enum(['every', 'change', 'window'], { error: 'expected "mode": "every", "change" or "window"' }).default('every').meta({
      description: '"every": every reading (default). "change": only when a value moved by more than its deadband, and at least every heartbeat. "window": one reading per window with aggregates.',
    }),
    deadband: deadband.optional(),
    heartbeat: z
      .union([z.literal('off'), duration({ min: '1s', max: '7d' })])
      .optional()
      .meta({ description: '"change" mode: report the current value at least this often even when nothing changed, so the cloud can tell a quiet sensor from a dead one. Default "10m"; "off" for never.' }),
    every: duration({ min: '1s', max: '1d' }).optional().meta({ description: '"window" mode: the window length; windows start on wall-clock boundaries (e.g. every "1m" on the minute, UTC) once the clock is synchronized.' }),
    aggregates: aggregates.optional(),
    fields: z
      .record(z.string().min(1).max(64), fieldSchema)
      .refine((fields) => Object.keys(fields).length <= 256, 'expected at most 256 fields')
      .optional()
      .meta({ description: 'Per field: a different deadband, "ignore", or other aggregates.' }),
  })
  .superRefine((report, ctx) => {
    const belongs = (key: string, mode: 'change' | 'window', path: (string | number)[]) =>
      ctx.addIssue({ code: 'custom', path, message: `expected "mode": "${mode}" for "${key}" (it applies only there), found "mode": "${report.mode}"` });
    if (report.mode !== 'change') {
      if (report.deadband !== undefined) belongs('deadband', 'change', ['deadband']);
      if (report.heartbeat !== undefined) belongs('heartbeat', 'change', ['heartbeat']);
    }
    if (report.mode !== 'window') {
      if (report.every !== undefined) belongs('every', 'window', ['every']);
      if (report.aggregates !== undefined) belongs('aggregates', 'window', ['aggregates']);
    } else if (report.every === undefined) ctx.addIssue({ code: 'custom', path: ['every'], message: 'expected "every", the window length (e.g. "1m"), with "mode": "window", found nothing' });
    for (const [name, field] of Object.entries(report.fields ?? {})) {
      if (report.mode !== 'change' && field.deadband !== undefined) belongs('deadband', 'change', ['fields', name, 'deadband']);
      if (report.mode !== 'change' && field.ignore !== undefined) belongs('ignore', 'change', ['fields', name, 'ignore']);
      if (report.mode !== 'window' && field.aggregates !== undefined) belongs('aggregates', 'window', ['fields', name, 'aggregates']);
    }
    if (report.mode === 'every' && report.fields !== undefined && Object.keys(report.fields).length > 0) ctx.addIssue({ code: 'custom', path: ['fields'], message: 'expected "mode": "change" or "window" for "fields", found "mode": "every"' });
  })
  .meta({ description: 'Which readings of this sensor are stored and sent: every one (default), on change with a deadband and heartbeat, or one per window with aggregates.' });

export type ReportConfig = z.output<typeof reportSchema>;
