// One registration with the IoT Hub Device Provisioning Service over MQTT, as the official Node SDK's
// azure-iot-provisioning-device-mqtt transport speaks it (azure-iot-sdk-node
// provisioning/transport/mqtt/src/mqtt.ts, provisioning/device/src/polling_state_machine.ts):
// - MQTT 3.1.1 over TLS (mqtts 8883, or wss 443 at /$iothub/websocket), clean session,
//   clientId = registration id, username "{idScope}/registrations/{registrationId}/api-version=2019-03-31&ClientVersion=…",
//   password = a SAS token (skn=registration) or none with an X.509 client certificate;
// - subscribe $dps/registrations/res/#; publish $dps/registrations/PUT/iotdps-register/?$rid={rid}
//   with {"registrationId", "payload"?};
// - answers on $dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]: 202 "assigning" with an
//   operationId, polled with $dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={id}
//   after retry-after (2 s when absent), until 200 "assigned" (or "failed", "disabled");
// - 4xx/5xx bodies are {"errorCode", "trackingId", "message"} (learn.microsoft.com, "Troubleshoot DPS":
//   401 the token does not verify, 404 no such enrollment or instance, 429 throttled, honour retry-after).
// Unlike the SDK, a 429 ends this attempt: the credentials seam waits the retry-after (at least) and
// registers again on a fresh connection, so a throttled fleet does not hold hundreds of idle links open.
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { TimerHandle, Timers } from '../../../timers.ts';
import { parseBoundedJson } from '../../bounded-json.ts';
import { describeConnackRefusal } from '../../connack.ts';
import type { MqttConnect } from '../../credentials/credentials-part.ts';
import { RegistrationError, type RegistrationRefusal } from '../../credentials/registration-error.ts';
import { brokerAddress, toMqttOptions } from '../../mqtt-options.ts';
import { DEVICE_ID, HUB_HOST } from './identity.ts';

export const DPS_API_VERSION = '2019-03-31';
const RESPONSES = '$dps/registrations/res/#';
/** The SDK's per-request timeout (provisioning/device/src/constants.ts, defaultTimeoutInterval). */
const REQUEST_TIMEOUT_MS = 30_000;
/** The SDK's polling interval when DPS gives no retry-after. */
const DEFAULT_POLL_MS = 2000;
/** Bounds on what DPS may ask: a retry-after of 0 would poll in a loop, a huge one would stall a registration. */
const MIN_RETRY_AFTER_MS = 1000;
const MAX_RETRY_AFTER_MS = 60 * 60_000;
/** Assigning takes seconds (a custom allocation function included): past this, the attempt fails and is retried later. */
const MAX_POLLS = 60;
/** DPS answers are a few hundred bytes; anything larger is not DPS. */
const MAX_ANSWER_BYTES = 64 * 1024;
const MAX_ECHOED_CHARS = 200;

export interface DpsRegistrationRequest {
  /** mqtts://host[:port] or wss://host[:port]/$iothub/websocket */
  url: string;
  idScope: string;
  registrationId: string;
  /** A SAS token for symmetric-key attestation; undefined with an X.509 client certificate (in tls). */
  password?: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string };
  payload?: unknown;
  clientVersion: string;
  connectTimeoutMs: number;
}

/** What DPS assigned. */
export interface DpsAssignment {
  assignedHub: string;
  deviceId: string;
  /** initialAssignment, deviceDataMigrated, deviceDataReset, reprovisionedToInitialAssignment. */
  substatus?: string;
  /** What a custom allocation function returned, if anything. */
  payload?: unknown;
}

/** The credentials seam's transport and timers (CredentialsContext): this file opens and waits on nothing of its own. */
export interface DpsDependencies {
  connect: MqttConnect;
  timers: Timers;
}

interface Answer {
  status: number;
  retryAfterMs: number | undefined;
  body: Record<string, unknown>;
}

/** Registers once; resolves with the assignment or throws RegistrationError saying why not. */
export async function registerWithDps(request: DpsRegistrationRequest, deps: DpsDependencies): Promise<DpsAssignment> {
  const link = await openLink(request, deps);
  const wait = (ms: number) => new Promise<void>((resolve) => deps.timers.setTimeout(resolve, ms));
  try {
    let answer = await link.ask(`$dps/registrations/PUT/iotdps-register/?$rid=${randomUUID()}`, JSON.stringify({ registrationId: request.registrationId, ...(request.payload !== undefined ? { payload: request.payload } : {}) }));
    for (let polls = 0; ; polls++) {
      const outcome = judge(answer);
      if (outcome.done) return outcome.assignment;
      if (polls >= MAX_POLLS) throw new RegistrationError(`DPS was still assigning after ${MAX_POLLS} status queries`, 'server', answer.status);
      await wait(answer.retryAfterMs ?? DEFAULT_POLL_MS);
      answer = await link.ask(`$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${randomUUID()}&operationId=${encodeURIComponent(outcome.operationId)}`, ' ');
    }
  } finally {
    link.close();
  }
}

type Judgement = { done: true; assignment: DpsAssignment } | { done: false; operationId: string };

function judge(answer: Answer): Judgement {
  const { status, body } = answer;
  if (status === 429) {
    throw new RegistrationError(`DPS is throttling registrations (429${answer.retryAfterMs !== undefined ? `, retry after ${answer.retryAfterMs / 1000} s` : ''})`, 'throttled', 429, answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {});
  }
  if (status >= 300) throw new RegistrationError(`DPS answered ${status}${errorText(body)}`, refusalOf(status), status);
  const operationStatus = typeof body.status === 'string' ? body.status.toLowerCase() : '';
  const state = (typeof body.registrationState === 'object' && body.registrationState !== null ? body.registrationState : {}) as Record<string, unknown>;
  switch (operationStatus) {
    case 'assigned': {
      const { assignedHub, deviceId } = state;
      if (typeof assignedHub !== 'string' || !HUB_HOST.test(assignedHub) || typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) {
        throw new RegistrationError('DPS said "assigned" without a valid assignedHub and deviceId', 'server', status);
      }
      return { done: true, assignment: { assignedHub, deviceId, ...(typeof state.substatus === 'string' ? { substatus: state.substatus.slice(0, 64) } : {}), ...(state.payload !== undefined ? { payload: state.payload } : {}) } };
    }
    case 'assigning':
    case 'unassigned': {
      const operationId = body.operationId;
      if (typeof operationId !== 'string' || operationId === '' || operationId.length > 256) throw new RegistrationError(`DPS said "${operationStatus}" without an operationId`, 'server', status);
      return { done: false, operationId };
    }
    case 'disabled':
      throw new RegistrationError(`DPS says the enrollment is disabled${errorText(state)}`, 'disabled', status);
    case 'failed': {
      // registrationState.errorCode is six digits whose first three are the HTTP status it stands for (401002, 404201, 400209…).
      const code = typeof state.errorCode === 'number' ? Math.floor(state.errorCode / 1000) : 0;
      throw new RegistrationError(`DPS could not assign this device${errorText(state)}`, code >= 400 && code < 600 ? refusalOf(code) : 'invalid', status);
    }
    default:
      throw new RegistrationError(`DPS answered ${status} with status "${String(body.status).slice(0, 40)}"`, 'server', status);
  }
}

function refusalOf(status: number): RegistrationRefusal {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'unknown';
  if (status === 429) return 'throttled';
  return status >= 500 ? 'server' : 'invalid';
}

/** DPS's own words (errorCode, message or errorMessage), bounded and on one line: they end up in the log. */
function errorText(body: Record<string, unknown>): string {
  const message = [body.errorMessage, body.message].find((m) => typeof m === 'string');
  const code = typeof body.errorCode === 'number' ? ` ${body.errorCode}` : '';
  if (message === undefined && code === '') return '';
  return ` (${`${code.trim()} ${typeof message === 'string' ? message.replace(/\s+/g, ' ').slice(0, MAX_ECHOED_CHARS) : ''}`.trim()})`;
}

interface Link {
  ask(topic: string, body: string): Promise<Answer>;
  close(): void;
}

async function openLink(request: DpsRegistrationRequest, { connect, timers }: DpsDependencies): Promise<Link> {
  const host = new URL(request.url).hostname;
  const options = toMqttOptions(
    {
      url: request.url,
      clientId: request.registrationId,
      username: `${request.idScope}/registrations/${request.registrationId}/api-version=${DPS_API_VERSION}&ClientVersion=${encodeURIComponent(request.clientVersion)}`,
      ...(request.password !== undefined ? { password: request.password } : {}),
      protocolVersion: 4,
      keepaliveSeconds: 60,
      // SNI carries host names only (RFC 6066, 3); given an IP address Node prints DEP0123 on stderr.
      tls: { ...request.tls, ...(isIP(host) === 0 ? { servername: request.tls.servername ?? host } : {}) },
    },
    request.connectTimeoutMs,
    { clean: true, sessionExpirySeconds: 0, maxIncomingBytes: MAX_ANSWER_BYTES },
  );
  const client = connect({ ...brokerAddress(request.url), ...options });
  const pending = new Map<string, (answer: Answer) => void>();
  // Set by the socket's events; an object, so TypeScript does not narrow it away between awaits.
  const broken: { failure?: RegistrationError } = {};
  const failed = (): RegistrationError | undefined => broken.failure;
  const fail = (error: RegistrationError) => {
    broken.failure ??= error;
    for (const settle of pending.values()) settle({ status: -1, retryAfterMs: undefined, body: {} });
    pending.clear();
  };
  client.on('message', (topic, payload) => {
    const match = /^\$dps\/registrations\/res\/(\d{3})\/\?(.{0,1024})$/.exec(topic);
    if (!match) return;
    const query = new URLSearchParams(match[2]);
    const settle = pending.get(query.get('$rid') ?? '');
    if (!settle) return;
    const parsed = parseBoundedJson(payload, { maxBytes: MAX_ANSWER_BYTES, maxDepth: 16 });
    const body = parsed.ok && typeof parsed.value === 'object' && parsed.value !== null && !Array.isArray(parsed.value) ? (parsed.value as Record<string, unknown>) : {};
    const retryAfter = Number(query.get('retry-after') ?? Number.NaN);
    settle({ status: Number(match[1]), retryAfterMs: Number.isFinite(retryAfter) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, retryAfter * 1000)) : undefined, body });
  });
  client.on('close', () => fail(new RegistrationError('DPS closed the connection', 'unreachable')));
  client.on('error', (error) => fail(connectFailure(error)));

  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (error) => reject(connectFailure(error)));
      client.once('close', () => reject(broken.failure ?? new RegistrationError(`DPS at ${host} closed the connection before accepting it`, 'unreachable')));
    });
    await client.subscribeAsync(RESPONSES, { qos: 1 });
  } catch (error) {
    client.end(true);
    throw error instanceof RegistrationError ? error : new RegistrationError(`cannot subscribe to DPS answers: ${(error as Error).message}`, 'unreachable', undefined, { cause: error });
  }

  return {
    async ask(topic, body) {
      if (broken.failure) throw broken.failure;
      const rid = /\$rid=([^&]+)/.exec(topic)![1]!;
      let timer: TimerHandle | undefined;
      const answer = new Promise<Answer>((resolve) => {
        pending.set(rid, resolve);
        timer = timers.setTimeout(() => fail(new RegistrationError(`DPS did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`, 'unreachable')), REQUEST_TIMEOUT_MS);
      });
      try {
        await client.publishAsync(topic, body, { qos: 1 });
        const result = await answer;
        const failure = failed();
        if (failure) throw failure;
        return result;
      } catch (error) {
        if (error instanceof RegistrationError) throw error;
        throw new RegistrationError(`cannot send to DPS: ${(error as Error).message}`, 'unreachable', undefined, { cause: error });
      } finally {
        timers.clearTimeout(timer);
        pending.delete(rid);
      }
    },
    close: () => void client.end(true),
  };
}

function connectFailure(error: Error): RegistrationError {
  const code = (error as { code?: number | string }).code;
  const refusal = typeof code === 'number' ? describeConnackRefusal(code) : undefined;
  if (refusal) return new RegistrationError(`DPS refused the MQTT connection (CONNACK ${code}: ${refusal.text})`, refusal.auth ? 'unauthorized' : 'server', undefined, { cause: error });
  const named = typeof code === 'string' && !error.message.includes(code) ? `${code} ` : '';
  return new RegistrationError(`cannot reach DPS: ${named}${error.message}`, 'unreachable', undefined, { cause: error });
}
