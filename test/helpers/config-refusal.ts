// The ConfigError a config check throws, or a failed assertion when it accepted the config.
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { ConfigError, ExitCode } from '../../src/errors.ts';

export function refusal(check: () => unknown): ConfigError {
  try {
    check();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    assert.equal(error.exitCode, ExitCode.config);
    return error;
  }
  assert.fail('the config was accepted');
}

/** The problems found in a config text. */
export function problemsOf(text: string): ConfigError {
  return refusal(() => parseConfigText(text, 'test.json'));
}
