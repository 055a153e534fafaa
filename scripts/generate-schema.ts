// Writes agent.config.schema.json from the schema in code, so editors complete and check the config.
// `npm run schema` after changing any config section; a test fails while the file is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema } from '../src/agent-config/schema.ts';

export function renderSchema(): string {
  const schema = { title: 'edge-agent configuration', ...(configJsonSchema() as Record<string, unknown>) };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.main) {
  const target = join(import.meta.dirname, '..', 'agent.config.schema.json');
  writeFileSync(target, renderSchema());
  process.stdout.write(`wrote ${target}\n`);
}
