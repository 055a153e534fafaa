import { z } from 'zod';
import { duration, size } from '../config/primitives.ts';

export const outboxConfigSchema = z
  .strictObject({
    commitInterval: duration({ min: '1ms', max: '10s' }).prefault('100ms').meta({ description: 'Longest a reading waits in memory before it is committed to disk.' }),
    commitBatch: z.int().min(1).max(100_000).default(1000).meta({ description: 'Commit as soon as this many readings are buffered.' }),
    sync: z.enum(['full', 'normal']).default('full').meta({ description: '"full": a committed reading survives power loss (one fsync per commit). "normal": fewer fsyncs; the last commits may be lost on power loss (never corrupted).' }),
    order: z.enum(['oldest-first', 'newest-first']).default('oldest-first').meta({ description: 'After an outage: send the backlog in order, or live data first with the backlog backfilled behind it.' }),
    maxBytes: size({ min: '1MB' }).prefault('256MB').meta({ description: 'Largest the outbox may grow on disk before the whenFull policy drops readings.' }),
    maxAge: duration({ min: '1m' }).prefault('30d').meta({ description: 'Readings older than this are dropped (counted and logged).' }),
    whenFull: z.enum(['drop-oldest', 'drop-newest']).default('drop-oldest').meta({ description: 'What to drop when maxBytes is reached.' }),
    reservedBytes: size({ min: '64KB' }).prefault('4MB').meta({ description: 'Room kept for command replies and events, so a full outbox never stops the agent answering.' }),
  })
  .meta({ description: 'The local store-and-forward buffer (SQLite in agent.dataDir).' });

export type OutboxConfig = z.output<typeof outboxConfigSchema>;
