import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { renderSchema } from '../../scripts/generate-schema.ts';

it('agent.config.schema.json matches the schema in code (run `npm run schema` after changing a config section)', () => {
  const committed = readFileSync(join(import.meta.dirname, '../../agent.config.schema.json'), 'utf8');
  assert.equal(committed, renderSchema(), 'agent.config.schema.json is stale: run `npm run schema` and commit the result');
});
