import { z } from 'zod';
import { reportSchema } from './report/report-config.ts';

/** Sensor ids appear in topics and metric names, so they are kept to safe characters. */
export const sensorIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected a sensor id of letters, digits, "_", "." or "-" (at most 64, starting with a letter or digit)')
  .meta({ description: 'Unique name of this sensor; appears in topics and metric names.' });

/** The fields every sensor type takes, whatever it reads: spread into each type's schema. */
export const sensorCommonFields = {
  id: sensorIdSchema,
  report: reportSchema.optional(),
};
