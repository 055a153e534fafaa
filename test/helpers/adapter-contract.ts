// The CloudAdapter contract: every cloud adapter must pass it, as every MQTT.js store passes
// test/node/abstract_store.ts and every aedes persistence passes aedes-persistence/abstract.js.
// Call adapterContract(name, harness) from a test file. What differs between clouds (where a reply
// goes, how a reading is found again in a payload, whether signing needs the clock) is said by the
// harness, never by a special case here.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AdapterContext, CloudAdapter, IncomingAction, TelemetryRecord } from '../../src/cloud/adapter.ts';
import { ClockNotSynchronizedError, CredentialsUnavailableError } from '../../src/cloud/errors.ts';
import type { IncomingMessage, OutgoingMessage } from '../../src/cloud/message.ts';
import { COMMAND_LIMITS, type Command, type CommandResult } from '../../src/commands/command.ts';
import { captureLog, type CapturedLog } from './capture-log.ts';
import { fuzzFrom, fuzzUnrelated, seededRandom, type FuzzCase } from './fuzz-messages.ts';
import { encodeBoundedReply } from '../../src/cloud/bounded-reply.ts';
import { payloadBytes } from '../../src/cloud/message.ts';

/** One way commands reach the agent on this cloud (a commands topic, a direct method, an RRPC call…). */
export interface CommandChannel {
  label: string;
  /** A well-formed command with this id and name. */
  message: (command: { id: string; name: string; params: unknown }) => IncomingMessage;
  /** The name every command of this channel gets whatever was asked (Alibaba property set). */
  fixedName?: string;
  /** A command that cannot be run but carries an id to answer by; absent when this channel never answers such a one. */
  malformed?: (id: string) => IncomingMessage;
  /** Where the reply to `request` must go, as readReply() renders an address; null when this channel has no reply (Azure cloud-to-device). */
  replyAddress: (request: IncomingMessage) => string | null;
}

export interface ReadReply {
  /** Topic, plus correlation data where the cloud uses it, in one comparable string. */
  address: string;
  /** The command id the reply echoes, or null when it echoes none. */
  id: string | null;
  ok: boolean;
}

export interface AdapterContractHarness {
  /** A fresh adapter for this context, from a config parsed as the agent parses its file. */
  create: (ctx: AdapterContext) => CloudAdapter;
  /**
   * The same cloud configured to get its own credentials and keep them in dataDir (Xyte
   * registration, Alibaba "one secret per product", Azure DPS), with a registration endpoint that
   * refuses at once, and how to leave credentials in dataDir as an earlier registration would have.
   */
  selfRegistering?: { create: (ctx: AdapterContext) => CloudAdapter; seedRegistered: (dataDir: string) => void };
  /** Everything secret in the configs above: never in clientId, url or the log. */
  secrets: string[];
  channels: CommandChannel[];
  /** Topics the adapter may see that carry no command (other subscriptions, other devices, junk). */
  unrelatedTopics: string[];
  /**
   * The seq of every reading in one telemetry payload. The suite's readings carry their seq as the
   * value `n` too, for clouds whose payload has no id of its own (Waylay, Xyte).
   */
  readTelemetrySeqs: (message: OutgoingMessage) => number[];
  readReply: (message: OutgoingMessage) => ReadReply;
  /** The rules the cloud's emulator applies to what it receives, as the problems found (none: clean). */
  payloadProblems?: (message: OutgoingMessage) => string[];
  /** 'connects': connectOptions needs no signature, so works unchanged on a wrong clock; 'refuses': it signs, and throws ClockNotSynchronizedError. */
  unsyncedClock: 'connects' | 'refuses';
  /** Cases this adapter is known to fail, by case key, with why: run as node:test todos. */
  todo?: Partial<Record<ContractCase, string>>;
}

export type ContractCase = 'telemetry-limit' | 'telemetry-once' | 'fuzz' | 'malformed-reply' | 'command-reply' | 'reply-limit' | 'clock' | 'secrets' | 'read-only';

/** Epoch ms the suite runs at (2023-11-14), and an evidently wrong clock (1970-01-02). */
export const CONTRACT_NOW = 1_700_000_000_000;
const WRONG_CLOCK = 86_400_000;

export const address = (topic: string, correlationData?: Buffer) => (correlationData ? `${topic} #${correlationData.toString('hex')}` : topic);

const SENSORS = ['boiler', 'pump', 'tank_3'];

export function contractRecord(seq: number, extra: Record<string, TelemetryRecord['values'][string]> = {}, clockUnsynced = false): TelemetryRecord {
  return { id: `gw-1-1700000000-${seq}`, seq, sensorId: SENSORS[seq % SENSORS.length]!, ts: CONTRACT_NOW - 60_000 + seq, values: { n: seq, temperature: 20 + seq / 10, on: seq % 2 === 0, state: 'ok', ...extra }, ...(clockUnsynced ? { clockUnsynced: true } : {}) };
}

/** Characters whose JSON or UTF-8 form is longer than one byte, so a limit counted in characters fails. */
const WIDE = 'p€😀"\\\nä\u0001';
const WIDE_BYTES = Buffer.byteLength(WIDE);

/** A string of exactly `bytes` UTF-8 bytes: plain, or full of characters that JSON or UTF-8 widen. */
function padding(bytes: number, wide: boolean): string {
  if (!wide) return 'p'.repeat(bytes);
  const whole = Math.floor(bytes / WIDE_BYTES);
  return WIDE.repeat(whole) + 'p'.repeat(bytes - whole * WIDE_BYTES);
}

interface Fixture {
  ctx: AdapterContext;
  clock: { now: number; synced: boolean };
  captured: CapturedLog;
  dataDir: string;
}

function fixture(readOnly = false): Fixture {
  const clock = { now: CONTRACT_NOW, synced: true };
  const captured = captureLog('debug');
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-agent-adapter-contract-'));
  const ctx: AdapterContext = { agentId: 'gw-1', agentVersion: '0.0.0-contract', dataDir, log: captured.log, now: () => clock.now, clockSynchronized: () => clock.synced, ...(readOnly ? { readOnly: true } : {}) };
  return { ctx, clock, captured, dataDir };
}

/** Every file under dir with its mode and a hash of its content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const stat = statSync(path);
    out[path.slice(dir.length)] = entry.isFile() ? `${stat.mode.toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}` : `${stat.mode.toString(8)} dir`;
  }
  return out;
}

export function adapterContract(name: string, harness: AdapterContractHarness): void {
  const todo = (key: ContractCase) => (harness.todo?.[key] ? { todo: harness.todo[key] } : {});
  const rulesOf = (messages: OutgoingMessage[]) => (harness.payloadProblems ? messages.flatMap((m) => harness.payloadProblems!(m).map((p) => `${m.topic}: ${p}`)) : []);

  describe(`CloudAdapter contract: ${name}`, () => {
    let f: Fixture;
    let adapter: CloudAdapter;
    const cleanups: string[] = [];
    beforeEach(async () => {
      f = fixture();
      cleanups.push(f.dataDir);
      adapter = harness.create(f.ctx);
      // As the session does: connect options first (Xyte learns its topics from its credentials).
      await adapter.connectOptions();
    });
    afterEach(() => {
      for (const dir of cleanups.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    /** Encodes, asserting the shape every adapter owes: no throw, every payload within the limit, the emulator's rules kept. */
    const encode = (records: TelemetryRecord[]) => {
      const encoded = adapter.encodeTelemetry(records);
      for (const m of encoded.messages) assert.ok(payloadBytes(m) <= adapter.maxMessageBytes, `a ${payloadBytes(m)}-byte message on ${m.topic}, over maxMessageBytes ${adapter.maxMessageBytes}`);
      assert.deepEqual(rulesOf(encoded.messages), [], 'telemetry breaks the cloud emulator’s payload rules');
      for (const r of encoded.rejected) assert.ok(typeof r.reason === 'string' && r.reason.length > 0, `reading ${r.record.seq} rejected without a reason`);
      return encoded;
    };
    const sentSeqs = (messages: OutgoingMessage[]) => messages.flatMap((m) => harness.readTelemetrySeqs(m));

    it('never emits telemetry over maxMessageBytes: a large batch is split, a reading too large alone is rejected with a reason', todo('telemetry-limit'), () => {
      const max = adapter.maxMessageBytes;
      // A batch 2.5 times the limit, of readings a tenth of it each.
      const big = Array.from({ length: 25 }, (_, i) => contractRecord(i + 1, { pad: padding(Math.floor(max / 10), i % 2 === 0) }));
      const split = encode(big);
      assert.ok(split.messages.length >= 3, `a batch of 2.5 x maxMessageBytes went as ${split.messages.length} message(s)`);
      assert.deepEqual(split.rejected, []);
      assert.deepEqual(sentSeqs(split.messages).sort((a, b) => a - b), big.map((r) => r.seq));

      // Too large alone, between two small readings that must still go.
      for (const wide of [false, true]) {
        const huge = contractRecord(101, { pad: padding(max + 1, wide) });
        const result = encode([contractRecord(100), huge, contractRecord(102)]);
        assert.deepEqual(result.rejected.map((r) => r.record.seq), [101]);
        assert.deepEqual(sentSeqs(result.messages).sort((a, b) => a - b), [100, 102]);
      }

      // Readings around the limit, where an envelope or a character counted as one byte tips the balance.
      for (let bytes = max - 700; bytes <= max + 40; bytes += 61) {
        for (const wide of [false, true]) {
          const record = contractRecord(bytes, { pad: padding(bytes, wide) });
          const result = encode([record]);
          if (result.rejected.length > 0) assert.deepEqual([result.rejected.map((r) => r.record.seq), result.messages.length], [[record.seq], 0], `${bytes} bytes: rejected and sent`);
          else assert.deepEqual(sentSeqs(result.messages), [record.seq], `${bytes} bytes`);
        }
      }
    });

    it('puts every reading of a batch in exactly one message, or rejects it', todo('telemetry-once'), () => {
      const random = seededRandom(29);
      const max = adapter.maxMessageBytes;
      const small = Array.from({ length: 600 }, (_, i) => contractRecord(i + 1, {}, i % 7 === 0));
      const packed = encode(small);
      assert.deepEqual(packed.rejected, []);
      assert.deepEqual(sentSeqs(packed.messages).sort((a, b) => a - b), small.map((r) => r.seq), 'each small reading exactly once');

      const mixed = Array.from({ length: 24 }, (_, i) => contractRecord(1000 + i, { pad: padding(Math.floor(random() * max * 1.2), random() < 0.5) }, random() < 0.2));
      const result = encode(mixed);
      const sent = sentSeqs(result.messages);
      const rejected = result.rejected.map((r) => r.record.seq);
      assert.equal(new Set(sent).size, sent.length, 'a reading sent twice');
      assert.deepEqual([...sent, ...rejected].sort((a, b) => a - b), mixed.map((r) => r.seq), 'every reading sent or rejected, not both, not neither');
      for (const record of mixed) {
        const pad = Buffer.byteLength(record.values.pad as string);
        if (pad > max) assert.ok(rejected.includes(record.seq), `a ${pad}-byte reading was not rejected`);
        if (pad < max / 2) assert.ok(!rejected.includes(record.seq), `a ${pad}-byte reading was rejected`);
      }
    });

    /** decodeIncoming on one case: never throws, never a command with a name or id over the limits. */
    const decodeSafely = (c: FuzzCase): IncomingAction[] => {
      let actions: IncomingAction[];
      try {
        actions = adapter.decodeIncoming(c.message);
      } catch (error) {
        throw new assert.AssertionError({ message: `decodeIncoming threw on ${c.label}: ${(error as Error).message}` });
      }
      assert.ok(Array.isArray(actions), `${c.label}: not an array`);
      for (const action of actions) {
        if (action.kind !== 'command') continue;
        const { id, name } = action.command;
        assert.ok(typeof id === 'string' && id.length > 0 && id.length <= COMMAND_LIMITS.idChars, `${c.label}: a command with a ${typeof id === 'string' ? id.length : typeof id}-character id`);
        assert.ok(typeof name === 'string' && name.length > 0 && name.length <= COMMAND_LIMITS.nameChars, `${c.label}: a command with a ${typeof name === 'string' ? name.length : typeof name}-character name`);
      }
      return actions;
    };
    const repliesIn = (actions: IncomingAction[]) => actions.flatMap((a) => (a.kind === 'reply' ? a.messages : []));

    it('decodes fuzzed input without throwing, never yields an over-long name or id, and addresses error replies like real ones', todo('fuzz'), () => {
      let cases = 0;
      harness.channels.forEach((channel, i) => {
        const wellFormed = channel.message({ id: '4242', name: 'ping', params: { a: 1 } });
        for (const c of fuzzFrom(wellFormed, 1000 + i)) {
          cases++;
          const replies = repliesIn(decodeSafely(c));
          for (const reply of replies) {
            assert.ok(payloadBytes(reply) <= adapter.maxMessageBytes, `${c.label}: a ${payloadBytes(reply)}-byte error reply`);
            const read = harness.readReply(reply);
            // An id from the payload is bounded like a command's; Azure's $rid is the hub's own address and is answered as sent.
            if (c.sameTopic) assert.ok(read.id === null || read.id.length <= COMMAND_LIMITS.idChars, `${c.label}: an error reply echoes a ${read.id?.length}-character id`);
            assert.equal(read.ok, false, `${c.label}: an error reply that reads as success`);
            if (c.sameTopic) assert.equal(read.address, channel.replyAddress(c.message), `${c.label}: an error reply addressed elsewhere than a reply`);
          }
          assert.deepEqual(rulesOf(replies), [], `${c.label}: an error reply breaks the cloud emulator’s payload rules`);
        }
      });
      for (const c of fuzzUnrelated(harness.unrelatedTopics, harness.channels[0]!.message({ id: '4242', name: 'ping', params: {} }).payload, 77)) {
        cases++;
        const actions = decodeSafely(c);
        assert.deepEqual(actions.filter((a) => a.kind === 'command'), [], `${c.label}: a command from a topic that carries none`);
      }
      assert.ok(cases > 200, `only ${cases} fuzz cases`);
    });

    it('answers a command it cannot run but can address, where a real reply goes, echoing its id', todo('malformed-reply'), () => {
      const answerable = harness.channels.filter((c) => c.malformed);
      assert.ok(answerable.length > 0, 'no channel declares a malformed command it answers');
      for (const channel of answerable) {
        const request = channel.malformed!('m-7');
        const replies = repliesIn(decodeSafely({ label: channel.label, message: request, sameTopic: true }));
        assert.ok(replies.length > 0, `${channel.label}: no error reply`);
        for (const reply of replies) assert.deepEqual(harness.readReply(reply), { address: channel.replyAddress(request), id: 'm-7', ok: false }, channel.label);
      }
    });

    const results: [string, CommandResult][] = [
      ['ok', { ok: true, status: 200, data: { pong: true, text: 'é"\n' } }],
      ['failure', { ok: false, status: 404, message: 'unknown command "pong"' }],
      ['failure with data', { ok: false, status: 500, message: 'failed', data: { exitCode: 3 } }],
    ];

    for (const synced of [true, false]) {
      it(`decodes a well-formed command and addresses ok and failure replies where the cloud expects them, echoing the id (clock ${synced ? 'synchronized' : 'unsynchronized'})`, todo('command-reply'), () => {
        f.clock.synced = synced;
        if (!synced) f.clock.now = WRONG_CLOCK;
        for (const channel of harness.channels) {
          for (const id of ['4242', '7'.repeat(COMMAND_LIMITS.idChars)]) {
            const request = channel.message({ id, name: 'ping', params: { a: 1 } });
            const actions = decodeSafely({ label: channel.label, message: request, sameTopic: true });
            const commands = actions.flatMap((a) => (a.kind === 'command' ? [a.command] : []));
            assert.equal(commands.length, 1, `${channel.label}: ${JSON.stringify(actions)}`);
            const command: Command = commands[0]!;
            assert.equal(command.name, channel.fixedName ?? 'ping', channel.label);
            const expected = channel.replyAddress(request);
            if (expected !== null) assert.equal(command.id, id, `${channel.label}: the command id is not the cloud's`);
            for (const [label, result] of results) {
              const replies = adapter.encodeReply(command, result);
              if (expected === null) {
                assert.deepEqual(replies, [], `${channel.label}: a reply where the cloud takes none`);
                continue;
              }
              assert.ok(replies.length > 0, `${channel.label} ${label}: no reply`);
              for (const reply of replies) assert.deepEqual(harness.readReply(reply), { address: expected, id, ok: result.ok }, `${channel.label} ${label}`);
              assert.deepEqual(rulesOf(replies), [], `${channel.label} ${label}: the reply breaks the cloud emulator’s payload rules`);
            }
            for (const accepted of expected === null ? [] : (adapter.encodeAccepted?.(command) ?? [])) {
              const read = harness.readReply(accepted);
              assert.deepEqual([read.address, read.id], [expected, id], `${channel.label}: the accepted notice`);
            }
          }
        }
      });
    }

    it('keeps a reply within maxMessageBytes however large the result (encodeBoundedReply, as the inbox sends it)', todo('reply-limit'), () => {
      for (const channel of harness.channels) {
        const request = channel.message({ id: '4242', name: 'ping', params: {} });
        const command = decodeSafely({ label: channel.label, message: request, sameTopic: true }).find((a) => a.kind === 'command');
        if (command?.kind !== 'command') return assert.fail(`${channel.label}: no command`);
        for (const result of [{ ok: true, status: 200, data: { log: 'l'.repeat(adapter.maxMessageBytes) } }, { ok: false, status: 500, message: 'm'.repeat(adapter.maxMessageBytes) }]) {
          for (const reply of encodeBoundedReply(adapter, command.command, result)) {
            assert.ok(payloadBytes(reply) <= adapter.maxMessageBytes, `${channel.label}: a ${payloadBytes(reply)}-byte reply, over maxMessageBytes ${adapter.maxMessageBytes}`);
            assert.equal(harness.readReply(reply).id, '4242');
          }
        }
      }
    });

    it(`with the clock unsynchronized, connectOptions ${harness.unsyncedClock === 'connects' ? 'works unchanged (nothing signed)' : 'refuses with ClockNotSynchronizedError, then signs once it is set'}`, todo('clock'), async () => {
      const synced = await adapter.connectOptions();
      f.clock.synced = false;
      f.clock.now = WRONG_CLOCK;
      if (harness.unsyncedClock === 'connects') {
        const unsynced = await adapter.connectOptions();
        assert.deepEqual(unsynced, synced, 'connect options depend on the clock');
        assert.equal(unsynced.renewAt, undefined, 'credentials that expire were minted without a clock');
      } else {
        await assert.rejects(adapter.connectOptions(), ClockNotSynchronizedError);
        f.clock.synced = true;
        f.clock.now = CONTRACT_NOW + 1000;
        const resumed = await adapter.connectOptions();
        assert.ok(resumed.password !== undefined, 'no signature once the clock is set');
        if (resumed.renewAt !== undefined) assert.ok(resumed.renewAt > f.clock.now, 'credentials due for renewal as soon as they are minted');
      }
      // Readings taken on the wrong clock still go, each once.
      const records = [1, 2, 3].map((seq) => contractRecord(seq, {}, true));
      assert.deepEqual(sentSeqs(encode(records).messages).sort((a, b) => a - b), [1, 2, 3]);
    });

    it('puts no secret in clientId or url, nor in the log', todo('secrets'), async () => {
      const options = await adapter.connectOptions();
      const password = typeof options.password === 'string' ? options.password : options.password?.toString('utf8');
      const secrets = [...harness.secrets, ...(password ? [password] : [])].filter((s) => s.length >= 6);
      assert.ok(secrets.length > 0, 'the harness names no secret');
      for (const secret of secrets) {
        assert.ok(!options.clientId.includes(secret), `clientId ${options.clientId} holds a secret`);
        assert.ok(!options.url.includes(secret), `url ${options.url} holds a secret`);
      }
      await adapter.onAuthRejected?.();
      await adapter.onAuthRejected?.();
      for (const channel of harness.channels) adapter.decodeIncoming(channel.message({ id: '1', name: 'ping', params: {} }));
      const logged = JSON.stringify(f.captured.lines);
      for (const secret of secrets) assert.ok(!logged.includes(secret), `the log holds a secret: ${logged.slice(0, 500)}`);
    });

    it('writes nothing into dataDir when the context is readOnly (connectOptions, onAuthRejected)', todo('read-only'), async () => {
      // registered: connectOptions must work from what the config or dataDir holds; otherwise it must say
      // CredentialsUnavailableError, without registering (a seed the adapter cannot read fails here).
      const variants: { label: string; create: (ctx: AdapterContext) => CloudAdapter; seed?: (dataDir: string) => void; registered: boolean }[] = [{ label: 'configured', create: harness.create, registered: true }];
      if (harness.selfRegistering) {
        variants.push({ label: 'self-registering, not registered yet', create: harness.selfRegistering.create, registered: false });
        variants.push({ label: 'self-registering, registered earlier', create: harness.selfRegistering.create, seed: harness.selfRegistering.seedRegistered, registered: true });
      }
      for (const variant of variants) {
        const ro = fixture(true);
        cleanups.push(ro.dataDir);
        variant.seed?.(ro.dataDir);
        const before = snapshot(ro.dataDir);
        const readOnlyAdapter = variant.create(ro.ctx);
        if (variant.registered) await readOnlyAdapter.connectOptions().catch((error: unknown) => assert.fail(`${variant.label}: ${String(error)}`));
        else await assert.rejects(readOnlyAdapter.connectOptions(), CredentialsUnavailableError, variant.label);
        await readOnlyAdapter.onAuthRejected?.();
        assert.deepEqual(snapshot(ro.dataDir), before, `${variant.label}: dataDir changed`);
      }
    });
  });
}
