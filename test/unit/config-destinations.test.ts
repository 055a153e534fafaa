// `cloud` or `clouds`: the single section keeps working as the destination "cloud"; several need
// ids of their own, and check-config says what is wrong with a combination, at its place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { destinationsOf } from '../../src/agent-config/schema.ts';
import { summarizeConfig } from '../../src/cli/summary.ts';
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

  it('check-config lists each destination with its filter and allow list, and the single cloud as before', () => {
    const two = parseConfigText(
      JSON.stringify({
        clouds: [mqtt({ id: 'scada', url: 'mqtt://10.0.0.5:1883', username: 'scada', password: 'pw-in-clear', sensors: ['boiler-*'], commands: { allow: [] } }), mqtt({ id: 'hub', url: 'mqtts://broker.example:8883' })],
      }),
    ).config;
    const text = summarizeConfig(two);
    assert.match(text, /^clouds {5}2: every reading goes to each that wants it, at least once, each at its own pace$/m);
    assert.match(text, /^ {2}- scada {2}mqtt {2}mqtt:\/\/10\.0\.0\.5:1883 {2}sensors boiler-\* {2}commands allowed: none$/m);
    assert.match(text, /^ {2}- hub {2}mqtt {2}mqtts:\/\/broker\.example:8883$/m);
    assert.match(text, /^WARNING {4}scada: /m, 'a warning names its destination');
    assert.doesNotMatch(text, /pw-in-clear/, 'no password printed');
    assert.match(summarizeConfig(parseConfigText(JSON.stringify({ cloud: mqtt() })).config), /^cloud {6}mqtt {2}mqtt:\/\/127\.0\.0\.1:1883$/m);
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
