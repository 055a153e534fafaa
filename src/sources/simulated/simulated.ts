// A sensor that needs no hardware: plausible temperature and humidity, and a `seq` counting up from 1
// so demos and tests can prove that every reading arrived.
import { z } from 'zod';
import { duration } from '../../config/primitives.ts';
import { emptySensorStats, type Source, type SourceType } from '../source.ts';
import { sensorCommonFields } from '../sensor-fields.ts';

const configSchema = z
  .strictObject({
    ...sensorCommonFields,
    type: z.literal('simulated'),
    interval: duration({ min: '10ms', max: '1d' }).prefault('1s').meta({ description: 'How often to produce a reading.' }),
    perTick: z.int().min(1).max(10_000).default(1).meta({ description: 'Readings produced at each interval (load tests). Default 1.' }),
    count: z.int().min(1).optional().meta({ description: 'Stop after this many readings (tests). Default: never.' }),
  })
  .meta({ title: 'Simulated sensor (demo and tests)' });

export const simulatedSource: SourceType<typeof configSchema> = {
  type: 'simulated',
  configSchema,
  create(config, ctx): Source {
    const stats = emptySensorStats();
    let timer: NodeJS.Timeout | undefined;
    let seq = 0;
    const produce = () => {
      seq++;
      const now = ctx.now();
      // A slow daily-like wave plus a little noise looks like a real room.
      const phase = (now / 600_000) % (2 * Math.PI);
      const reading = {
        sensorId: config.id,
        ts: now,
        values: {
          seq,
          temperature: Math.round((21 + 3 * Math.sin(phase) + (Math.random() - 0.5) * 0.2) * 100) / 100,
          humidity: Math.round((45 + 8 * Math.cos(phase) + (Math.random() - 0.5)) * 10) / 10,
        },
        ...(ctx.clockSynchronized() ? {} : { clockUnsynced: true }),
      };
      stats.readings++;
      stats.lastReadingAt = now;
      ctx.emit(reading);
      if (config.count !== undefined && seq >= config.count) clearInterval(timer);
      return reading;
    };
    return {
      id: config.id,
      type: 'simulated',
      start() {
        timer = setInterval(() => {
          for (let i = 0; i < config.perTick && (config.count === undefined || seq < config.count); i++) produce();
        }, config.interval);
        return Promise.resolve();
      },
      stop() {
        clearInterval(timer);
        return Promise.resolve();
      },
      stats: () => stats,
      readNow: () => Promise.resolve([produce()]),
    };
  },
};
