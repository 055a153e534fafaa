import { z } from 'zod';
import { AGENT_VERSION } from '../../version.ts';
import { defineHandler } from '../handler.ts';

export const pingHandler = defineHandler({
  name: 'ping',
  description: 'Answers at once: proves the command path works end to end.',
  params: z.looseObject({}),
  run: () => Promise.resolve({ pong: true, version: AGENT_VERSION, time: new Date().toISOString() }),
});
