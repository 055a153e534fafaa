import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactConfig } from '../../src/agent-config/redact.ts';

describe('config redaction', () => {
  it('redacts every field the schema declares secret, whatever its name, and keeps references', () => {
    const raw = {
      cloud: { provider: 'xyte', registration: { sn: 'SN-1', hardwareKey: 'hw-inline-key', mac: 'auto', url: 'https://entry.example/v1/devices' } },
      sensors: [],
    };
    const shown = JSON.stringify(redactConfig(raw));
    assert.doesNotMatch(shown, /hw-inline-key/);
    assert.match(shown, /SN-1/);
    const byEnv = JSON.stringify(redactConfig({ cloud: { provider: 'waylay', url: 'mqtts://b.example', resourceId: 'r', username: 'u', password: { env: 'WAYLAY_PASSWORD' }, domain: 'app.waylay.io' } }));
    assert.match(byEnv, /WAYLAY_PASSWORD/);
  });
  it('redacts a password typed into a URL, which no schema declares secret', () => {
    const shown = JSON.stringify(redactConfig({ cloud: { provider: 'mqtt', url: 'mqtts://scada:pw-in-url@b.example:8883' }, sensors: [] }));
    assert.doesNotMatch(shown, /pw-in-url/);
    assert.match(shown, /mqtts:\/\/scada:\[redacted\]@b\.example:8883/);
    assert.deepEqual(redactConfig({ url: 'mqtts://b.example:8883', note: 'a:b@c' }), { url: 'mqtts://b.example:8883', note: 'a:b@c' });
  });
  it('falls back to key names when the config does not validate', () => {
    assert.deepEqual(redactConfig({ cloud: { provider: 'nope', password: 'p', accessKey: 'k' } }), { cloud: { provider: 'nope', password: '[redacted]', accessKey: '[redacted]' } });
  });
});
