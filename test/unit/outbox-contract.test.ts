// The Outbox contract, run against the SQLite outbox on real files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { outboxConfigSchema } from '../../src/outbox/config.ts';
import { openOutbox } from '../../src/outbox/sqlite-outbox.ts';
import { outboxContract } from '../helpers/outbox-contract.ts';
import { silentLog } from '../helpers/outbox-files.ts';

outboxContract('SQLite', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-agent-outbox-contract-'));
  return {
    durable: true,
    open: (config = {}, now) => openOutbox({ dataDir, agentId: 'gw-1', config: { ...outboxConfigSchema.parse({}), ...config }, log: silentLog(), ...(now ? { now } : {}) }),
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
});
