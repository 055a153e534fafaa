// `cloud` or `clouds`: the single section keeps working as the destination "cloud"; several need
// ids of their own, and check-config says what is wrong with a combination, at its place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { destinationsOf } from '../../src/agent-config/schema.ts';
import { sensorFilter } from '../../src/destination.ts';
import { problemsOf } from '../helpers/config-refusal.ts';

const mqtt = (extra: Record<string, unknown> = {}) => ({ provider: 'mqtt', url: 'mqtt://127.0.0.1:1883', ...extra });

describe('config: destinations', () => {
  it('a single cloud section is the destination "cloud"; clouds keep their ids and order', () => {
    const single = parseConfigText(JSON.stringify({ cloud: mqtt() })).config;
    assert.deepEqual(
      destinationsOf(single).map((d) => d.id),
      ['cloud'],
    );
    assert.equal(single.clouds, undefined);
    const two = parseConfigText(JSON.stringify({ clouds: [mqtt({ id: 'plant' }), mqtt({ id: 'azure', clientId: 'other' })] })).config;
    assert.deepEqual(
      destinationsOf(two).map((d) => d.id),
      ['plant', 'azure'],
    );
    assert.equal(two.cloud, two.clouds![0], 'cloud is the first destination');
  });

  it('says what is wrong with a combination, where', () => {
    const first = (config: unknown) => problemsOf(JSON.stringify(config, null, 2)).problems[0]!;
    assert.match(first({}).message, /expected "cloud": a cloud section, or "clouds": an array of them, found nothing/);
    assert.match(first({ cloud: mqtt(), clouds: [mqtt({ id: 'a' })] }).message, /expected "cloud" or "clouds", not both/);
    const noId = first({ clouds: [mqtt()] });
    assert.equal(noId.path, 'clouds[0].id');
    assert.match(noId.message, /expected an "id" for each of "clouds"/);
    assert.match(first({ clouds: [mqtt({ id: 'a' }), mqtt({ id: 'a', clientId: 'x' })] }).message, /expected a unique destination id, found "a" again \(first at clouds\[0\]\)/);
    const sameClient = first({ clouds: [mqtt({ id: 'a' }), mqtt({ id: 'b' })] });
    assert.equal(sameClient.path, 'clouds[1].clientId');
    assert.match(sameClient.message, /connects to the same broker as the same client/);
    assert.match(first({ clouds: [mqtt({ id: 'a', sensors: ['boiler/*'] })] }).message, /pattern with \* and \?/);
  });

  it('sensor patterns: * any characters, ? one, nothing else special', () => {
    const wants = sensorFilter(['boiler-*', 'pump-?', 'tank.1'])!;
    assert.deepEqual(
      ['boiler-1', 'boiler-', 'pump-7', 'pump-12', 'tank.1', 'tankx1', 'room'].map(wants),
      [true, true, true, false, true, false, false],
    );
    assert.equal(sensorFilter(undefined), undefined);
  });
});
