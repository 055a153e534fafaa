import { z } from 'zod';
import type { StatusSnapshot } from '../../status/snapshot.ts';
import { defineHandler } from '../handler.ts';

export function statusHandler(snapshot: () => StatusSnapshot) {
  return defineHandler({
    name: 'status',
    description: 'What `edge-agent status` shows: link, outbox, sensors, recent errors.',
    params: z.looseObject({}),
    run: () => Promise.resolve(snapshot()),
  });
}
