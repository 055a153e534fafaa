// An Azure IoT Hub Device Provisioning Service (DPS) for tests: aedes over TLS enforcing the MQTT
// side of DPS as Microsoft's Node device SDK speaks it (azure-iot-sdk-node:
// provisioning/transport/mqtt/src/mqtt.ts, provisioning/device/src/polling_state_machine.ts,
// security/symmetric/src/symmetric_key.ts, common/core/src/shared_access_signature.ts) and as
// learn.microsoft.com describes it ("Azure IoT Hub Device Provisioning Service (DPS) device concepts",
// "Control access to DPS with SAS tokens", "How to troubleshoot DPS").
//
// What it enforces:
// - TLS only, MQTT 3.1.1 (protocol level 4); also MQTT over WebSockets (`wssUrl`): TLS, only the path
//   /$iothub/websocket, only the `mqtt` subprotocol.
// - CONNECT: username `{idScope}/registrations/{registrationId}/api-version={version}` (then optional
//   `&name=value` pairs such as the SDK's `&ClientVersion=…`), a registration id as DPS allows it (up to
//   128 of [A-Za-z0-9-._:], ending alphanumeric or '-'), clientId = that registration id. Otherwise
//   the CONNECT is refused (`refusals`). The credentials are NOT checked at CONNECT: like DPS, the
//   register request is answered 401 instead (seen: `$dps/registrations/res/401/?$rid=1`, errorCode 401002).
// - Symmetric key: `SharedAccessSignature sr=…&sig=…&se=…&skn=registration` (any order). The signature
//   is HMAC-SHA256(base64-decoded key, sr as sent + "\n" + se), base64, URL-encoded; sr may be sent raw
//   (the Node SDK) or URL-encoded (the docs, other SDKs) but must decode to {idScope}/registrations/{id}
//   (ID scope case-insensitive); skn must be `registration`; se must be in the future. Group enrollments
//   derive each device's key: base64(HMAC-SHA256(base64-decoded group key, registrationId)).
// - X.509: with `tls.ca`, the server asks for a client certificate; one verified against that CA, with
//   CN = registration id and no password, satisfies an x509 enrollment.
// - Enrollment rules, in order: another ID scope → 404; an individual enrollment for the registration id
//   (case-insensitive) → its credential, else 401; else the first group whose credential verifies, 401
//   if none does, 404 if there are no groups. Every 401/404 says why in `refusals`.
// - Only `$dps/registrations/res/#` may be subscribed to; only QoS 0/1 publishes (QoS 2 closes the
//   link), not retained, only to `$dps/registrations/PUT/iotdps-register/?$rid=…` (body
//   {"registrationId", "payload"?} with the connection's registration id, at most 16 KB, else 400) and
//   `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=…&operationId=…` (unknown operation → 404).
//   Anything else is a violation and closes the link.
// - Answers on `$dps/registrations/res/{status}/?$rid={rid}`, with `&retry-after={s}` on 202 and 429.
//   The retry-after is enforced: a device's next request sooner than it was told is a violation and
//   is answered 429 again. `throttle()` answers the next requests 429.
// - Assignment: register → 202 assigning; `assigningPolls` polls → 202 assigning; then 200 assigned
//   (the device is created or replaced on the given hub emulator with its symmetric key), or 200 with
//   status `disabled` for a disabled enrollment (DPS reports it in the operation status, not as an
//   error status; azure-iot-sdk-java#1640). Error bodies: {errorCode, trackingId, message, timestampUtc};
//   of the six-digit codes only 401002 is one seen from DPS, the others are the HTTP status + 001.
import { createHmac, randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { AzureEmulator, AzureViolation } from './azure-emulator.ts';
import { emulatorEvents } from '../emulator-events.ts';
import { listenMqttEndpoints } from './mqtt-endpoints.ts';

export type DpsEnrollment =
  | { kind: 'individual'; registrationId: string; key?: string; x509?: true; deviceId?: string; disabled?: boolean }
  | { kind: 'group'; groupId: string; key?: string; x509?: true; disabled?: boolean };

export type DpsViolation = AzureViolation;

export interface DpsRegistration {
  registrationId: string;
  deviceId: string;
  assignedHub: string;
  substatus: 'initialAssignment' | 'reprovisionedToInitialAssignment';
  payload?: unknown;
  at: number;
}

export interface DpsRequest {
  registrationId: string;
  kind: 'register' | 'poll';
  at: number;
}

export interface DpsEmulatorOptions {
  idScope: string;
  /** Server certificate; `ca` verifies client certificates (X.509 attestation). */
  tls: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** The hub assigned devices are created on. */
  hub: AzureEmulator;
  /** The assignedHub reported (default hub.host). */
  hubHost?: string;
  enrollments: DpsEnrollment[];
  /** retry-after on 202 answers, whole seconds (default 1). */
  retryAfterSeconds?: number;
  /** Polls answered 202 assigning before the outcome (default 1). */
  assigningPolls?: number;
  now?: () => number;
}

export interface DpsEmulator {
  /** mqtts://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>, the provisioning host as the SDK takes it. */
  endpoint: string;
  /** wss://127.0.0.1:<port>/$iothub/websocket */
  wssUrl: string;
  idScope: string;
  registrations: DpsRegistration[];
  requests: DpsRequest[];
  violations: DpsViolation[];
  refusals: { clientId: string; reason: string }[];
  /** The next `count` requests are answered 429 with this retry-after. */
  throttle(count: number, retryAfterSeconds: number): void;
  /** Disables or enables an enrollment, by group id or individual registration id. */
  setDisabled(enrollmentIdOrRegistrationId: string, disabled: boolean): void;
  waitFor(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

const RESPONSE_FILTER = '$dps/registrations/res/#';
const MAX_BODY = 16 * 1024;
const MAX_TOPIC = 1024;
const MAX_ID = 128;
const MAX_OPERATIONS = 10_000;
/** A device's timer may fire a few ms before the emulator's clock says the retry-after has passed. */
const RETRY_SLACK_MS = 50;
const REGISTRATION_ID = /^[A-Za-z0-9._:-]{0,127}[A-Za-z0-9-]$/;

interface Connection {
  registrationId: string;
  idScope: string;
  password?: string;
  /** A client certificate the TLS layer saw: verified against options.tls.ca or not. */
  cert?: { verified: boolean; cn?: string };
  /** Granted QoS of the response subscription, once subscribed. */
  responseQos?: 0 | 1;
}

interface Operation {
  operationId: string;
  registrationId: string;
  enrollment: DpsEnrollment;
  key?: string;
  payload?: unknown;
  polls: number;
  outcome?: { status: number; body: unknown };
}

type Attestation = { enrollment: DpsEnrollment; key?: string } | { status: 401 | 404; reason: string };

function refusal(message: string, returnCode: AuthenticateError['returnCode']): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

const hmac = (base64Key: string, message: string) => createHmac('sha256', Buffer.from(base64Key, 'base64')).update(message, 'utf8').digest('base64');

const safeDecode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
};

/** `a=1&b=2` with the values as sent; undefined if a name repeats or a pair has no '='. */
function rawFields(text: string): Map<string, string> | undefined {
  const fields = new Map<string, string>();
  for (const pair of text.split('&')) {
    const at = pair.indexOf('=');
    if (at <= 0 || fields.has(pair.slice(0, at))) return undefined;
    fields.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return fields;
}

/** `{idScope}/registrations/{registrationId}/api-version={version}[&name=value…]` */
function parseUsername(username: string | undefined): { idScope: string; registrationId: string } | string {
  if (username === undefined) return 'no username';
  const match = /^([^/]+)\/registrations\/([^/]+)\/(api-version=.*)$/.exec(username);
  if (!match) return `username ${username} is not {idScope}/registrations/{registrationId}/api-version=…`;
  const query = rawFields(match[3]!);
  if (!query || !/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(query.get('api-version') ?? '')) return `username ${username}: api-version missing or malformed`;
  if (!REGISTRATION_ID.test(match[2]!)) return `registration id ${match[2]} is not up to 128 of [A-Za-z0-9-._:] ending alphanumeric or '-'`;
  return { idScope: match[1]!, registrationId: match[2]! };
}

export async function startDpsEmulator(options: DpsEmulatorOptions): Promise<DpsEmulator> {
  const now = options.now ?? Date.now;
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  const assigningPolls = options.assigningPolls ?? 1;
  if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) throw new Error('retryAfterSeconds is whole seconds, as DPS sends it');
  if (!Number.isInteger(assigningPolls) || assigningPolls < 0) throw new Error('assigningPolls is a count');
  const assignedHub = options.hubHost ?? options.hub.host;
  const enrollments = options.enrollments.map((e) => ({ ...e }));
  const connectionOf = new WeakMap<Client, Connection>();
  /** The TLS socket under each MQTT stream (the socket itself, or the one under a WebSocket). */
  const tlsOf = new WeakMap<object, TLSSocket>();
  const operations = new Map<string, Operation>();
  /** Per registration id: when the last retry-after given ends. */
  const pacing = new Map<string, { notBefore: number; seconds: number }>();
  const registered = new Map<string, { createdAt: number }>();
  let throttled = { count: 0, seconds: 0 };
  const emulator = {} as DpsEmulator;
  const registrations: DpsRegistration[] = [];
  const requests: DpsRequest[] = [];
  const violations: DpsViolation[] = [];
  const refusals: DpsEmulator['refusals'] = [];
  const events = emulatorEvents(() => `violations: ${JSON.stringify(violations)}; refusals: ${JSON.stringify(refusals)}`);
  const notify = events.notify;
  const violation = (rule: string, clientId: string, detail: string) => {
    violations.push({ rule, clientId, detail });
    notify();
  };
  const iso = () => new Date(now()).toISOString();
  const errorBody = (errorCode: number, message: string) => ({ errorCode, trackingId: randomUUID(), message, timestampUtc: iso() });

  /** Why a SAS token does not prove the key for this registration, or undefined if it does. */
  function sasProblem(password: string, registrationId: string, key: string): string | undefined {
    const prefix = 'SharedAccessSignature ';
    if (!password.startsWith(prefix)) return 'the password is not a SharedAccessSignature';
    const fields = rawFields(password.slice(prefix.length));
    if (!fields) return 'the SharedAccessSignature has a malformed or repeated field';
    const [sr, sig, se, skn] = ['sr', 'sig', 'se', 'skn'].map((name) => fields.get(name));
    if (!sr || !sig || !se) return 'the SharedAccessSignature lacks sr, sig or se';
    if (skn !== 'registration') return `skn is ${skn ?? '(none)'}, not registration`;
    if (!/^\d{1,12}$/.test(se)) return `se ${se} is not seconds since 1970`;
    if (Number(se) * 1000 <= now()) return `the token expired at ${new Date(Number(se) * 1000).toISOString()}`;
    const resource = safeDecode(sr);
    const slash = resource?.indexOf('/') ?? -1;
    if (!resource || slash < 0 || resource.slice(0, slash).toLowerCase() !== options.idScope.toLowerCase() || resource.slice(slash) !== `/registrations/${registrationId}`) {
      return `sr ${sr} does not decode to ${options.idScope}/registrations/${registrationId}`;
    }
    if (safeDecode(sig) !== hmac(key, `${sr}\n${se}`)) return 'the signature does not verify with the enrollment key';
    return undefined;
  }

  /** Why this connection's credential does not satisfy an enrollment with this attestation, or undefined. */
  function credentialProblem(conn: Connection, x509: true | undefined, key: string | undefined): string | undefined {
    if (conn.cert?.verified) {
      if (conn.password !== undefined) return 'a verified client certificate and a password: DPS takes one attestation';
      if (conn.cert.cn !== conn.registrationId) return `the client certificate CN ${conn.cert.cn ?? '(none)'} is not the registration id`;
      return x509 ? undefined : 'a client certificate, but the enrollment is not X.509';
    }
    if (conn.password === undefined) return conn.cert ? 'the client certificate does not verify against the CA' : 'neither a SAS token nor a client certificate';
    if (!key) return 'a SAS token, but the enrollment has no symmetric key';
    return sasProblem(conn.password, conn.registrationId, key);
  }

  function attest(conn: Connection): Attestation {
    if (conn.idScope.toLowerCase() !== options.idScope.toLowerCase()) return { status: 404, reason: `no DPS instance with ID scope ${conn.idScope} here` };
    const individual = enrollments.find((e) => e.kind === 'individual' && e.registrationId.toLowerCase() === conn.registrationId.toLowerCase());
    if (individual) {
      const problem = credentialProblem(conn, individual.x509, individual.key);
      return problem ? { status: 401, reason: `individual enrollment ${conn.registrationId}: ${problem}` } : { enrollment: individual, ...(individual.key ? { key: individual.key } : {}) };
    }
    const groups = enrollments.filter((e) => e.kind === 'group');
    if (groups.length === 0) return { status: 404, reason: `enrollment not found for ${conn.registrationId}` };
    const problems: string[] = [];
    for (const group of groups) {
      const key = group.key === undefined ? undefined : hmac(group.key, conn.registrationId);
      const problem = credentialProblem(conn, group.x509, key);
      if (!problem) return { enrollment: group, ...(key ? { key } : {}) };
      problems.push(`group ${group.groupId}: ${problem}`);
    }
    return { status: 401, reason: problems.join('; ') };
  }

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const refuse = (reason: string, code: AuthenticateError['returnCode']) => {
        refusals.push({ clientId: client.id, reason });
        done(refusal(reason, code), false);
        notify();
      };
      if (client.version !== 4) return refuse(`MQTT protocol level ${client.version}; DPS speaks 3.1.1 (level 4)`, 1);
      const parsed = parseUsername(username);
      if (typeof parsed === 'string') return refuse(parsed, 5);
      if (client.id !== parsed.registrationId) return refuse(`clientId ${client.id} is not the registration id ${parsed.registrationId}`, 2);
      if (!client.clean) violation('clean-session', client.id, 'CONNECT without clean session; DPS clients connect clean');
      const socket = tlsOf.get(client.conn);
      const peer = socket?.getPeerCertificate();
      const cn = peer?.subject?.CN;
      connectionOf.set(client, {
        ...parsed,
        ...(password === undefined ? {} : { password: password.toString('utf8') }),
        ...(peer && Object.keys(peer).length > 0 ? { cert: { verified: socket!.authorized, ...(cn === undefined ? {} : { cn: String(cn) }) } } : {}),
      });
      done(null, true);
    },
    authorizeSubscribe(client, subscription, callback) {
      const conn = connectionOf.get(client)!;
      if (subscription.topic !== RESPONSE_FILTER) {
        violation('subscribe', client.id, `subscription to ${subscription.topic.slice(0, 200)}; DPS devices subscribe to ${RESPONSE_FILTER} only`);
        return callback(null, null);
      }
      conn.responseQos = subscription.qos === 0 ? 0 : 1;
      callback(null, { ...subscription, qos: conn.responseQos });
    },
    authorizePublish(client, packet, callback) {
      if (client === null) return callback(null);
      const conn = connectionOf.get(client)!;
      const fail = (rule: string, detail: string) => {
        violation(rule, client.id, detail);
        callback(new Error(detail)); // aedes closes the connection
      };
      const topic = packet.topic;
      if (packet.qos === 2) return fail('qos', `QoS 2 publish to ${topic.slice(0, 200)}: DPS closes the connection`);
      if (packet.retain) return fail('retain', `retained publish to ${topic.slice(0, 200)}`);
      if (topic.length > MAX_TOPIC) return fail('topic', `a ${topic.length}-character topic`);
      const match = /^\$dps\/registrations\/(PUT\/iotdps-register|GET\/iotdps-get-operationstatus)\/\?(.*)$/.exec(topic);
      const query = match ? rawFields(match[2]!) : undefined;
      if (!match || !query) return fail('topic', `publish to a topic DPS does not serve: ${topic.slice(0, 200)}`);
      const rid = query.get('$rid');
      if (!rid || rid.length > MAX_ID || /\s/.test(rid)) return fail('topic', `request without a usable $rid: ${topic.slice(0, 200)}`);
      const kind = match[1] === 'PUT/iotdps-register' ? 'register' : 'poll';
      const operationId = query.get('operationId');
      if (kind === 'poll' && (!operationId || operationId.length > MAX_ID)) return fail('topic', `operation status request without an operationId: ${topic.slice(0, 200)}`);
      callback(null);
      const payload = Buffer.from(packet.payload);
      setImmediate(() => handleRequest(client, conn, kind, rid, operationId, payload));
    },
  });
  // aedes itself refuses protocol levels other than 3 and 4 (CONNACK 1), before authenticate.
  broker.on('connectionError', (client, error) => {
    if ((error as { errorCode?: number }).errorCode === 1) {
      refusals.push({ clientId: client.id ?? '(none)', reason: `${error.message}; DPS speaks MQTT 3.1.1 (level 4)` });
      notify();
    }
  });
  broker.on('unsubscribe', (topics, client) => {
    const conn = connectionOf.get(client);
    if (conn && topics.includes(RESPONSE_FILTER)) delete conn.responseQos;
  });

  function handleRequest(client: Client, conn: Connection, kind: 'register' | 'poll', rid: string, operationId: string | undefined, payload: Buffer) {
    const { registrationId } = conn;
    const at = now();
    requests.push({ registrationId, kind, at });
    const answer = (status: number, body: unknown, retryAfter?: number) => {
      if (retryAfter === undefined) pacing.delete(registrationId);
      else pacing.set(registrationId, { notBefore: now() + retryAfter * 1000, seconds: retryAfter });
      if (client.closed) return notify();
      if (conn.responseQos === undefined) {
        violation('subscribe', client.id, `a ${kind} request before subscribing to ${RESPONSE_FILTER}: its answer is lost`);
        return;
      }
      const topic = `$dps/registrations/res/${status}/?$rid=${rid}${retryAfter === undefined ? '' : `&retry-after=${retryAfter}`}`;
      client.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(body)), qos: conn.responseQos, retain: false, dup: false }, () => {});
      notify();
    };

    const wait = pacing.get(registrationId);
    if (wait && at < wait.notBefore - RETRY_SLACK_MS) {
      violation('retry-after', client.id, `${kind} ${wait.notBefore - at} ms before the retry-after of ${wait.seconds} s ended`);
      return answer(429, errorBody(429001, 'Operations are being throttled: wait for the retry-after'), wait.seconds);
    }
    if (throttled.count > 0) {
      throttled = { count: throttled.count - 1, seconds: throttled.seconds };
      return answer(429, errorBody(429001, 'Operations are being throttled'), throttled.seconds);
    }
    const attestation = attest(conn);
    if ('status' in attestation) {
      refusals.push({ clientId: client.id, reason: attestation.reason });
      return answer(attestation.status, errorBody(attestation.status === 401 ? 401002 : 404001, attestation.status === 401 ? 'Unauthorized' : 'Not found'));
    }

    if (kind === 'register') {
      if (payload.length > MAX_BODY) return answer(400, errorBody(400001, `the request body is ${payload.length} bytes, over 16 KB`));
      let body: unknown;
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        return answer(400, errorBody(400001, 'the request body is not JSON'));
      }
      const request = body as { registrationId?: unknown; payload?: unknown } | null;
      if (typeof request !== 'object' || request === null || Array.isArray(request) || request.registrationId !== registrationId) {
        return answer(400, errorBody(400001, `the request body is not {"registrationId":"${registrationId}",…}`));
      }
      const operation: Operation = {
        operationId: `4.${randomUUID().replaceAll('-', '').slice(0, 16)}.${randomUUID()}`,
        registrationId,
        enrollment: attestation.enrollment,
        ...(attestation.key ? { key: attestation.key } : {}),
        ...(request.payload === undefined ? {} : { payload: request.payload }),
        polls: 0,
      };
      operations.set(operation.operationId, operation);
      if (operations.size > MAX_OPERATIONS) operations.delete(operations.keys().next().value!);
      return answer(202, { operationId: operation.operationId, status: 'assigning' }, retryAfterSeconds);
    }

    const operation = operations.get(operationId!);
    if (!operation || operation.registrationId !== registrationId) {
      violation('operation', client.id, `operation status for ${operationId!.slice(0, 200)}, which is no operation of ${registrationId}`);
      return answer(404, errorBody(404001, 'Operation not found'));
    }
    if (operation.outcome) return answer(operation.outcome.status, operation.outcome.body);
    if (operation.polls < assigningPolls) {
      operation.polls++;
      return answer(202, { operationId: operation.operationId, status: 'assigning' }, retryAfterSeconds);
    }
    operation.outcome = decide(operation);
    answer(operation.outcome.status, operation.outcome.body);
  }

  /** The outcome of an operation whose polls are done: disabled, or assigned (and the device exists on the hub). */
  function decide(operation: Operation): { status: number; body: unknown } {
    const { registrationId, enrollment } = operation;
    const before = registered.get(registrationId);
    const createdDateTimeUtc = new Date(before?.createdAt ?? now()).toISOString();
    if (enrollment.disabled) {
      const which = enrollment.kind === 'group' ? `enrollment group ${enrollment.groupId}` : `individual enrollment ${enrollment.registrationId}`;
      return {
        status: 200,
        body: { operationId: operation.operationId, status: 'disabled', registrationState: { registrationId, createdDateTimeUtc, status: 'disabled', errorCode: 401001, errorMessage: `The ${which} is disabled`, lastUpdatedDateTimeUtc: iso() } },
      };
    }
    const deviceId = (enrollment.kind === 'individual' && enrollment.deviceId) || registrationId;
    const substatus = before ? 'reprovisionedToInitialAssignment' : 'initialAssignment';
    registered.set(registrationId, { createdAt: before?.createdAt ?? now() });
    // The device is created on the hub with the credential it attested with: its key, or its certificate.
    options.hub.addDevice(operation.key ? { deviceId, key: operation.key } : { deviceId, x509: true });
    registrations.push({ registrationId, deviceId, assignedHub, substatus, ...(operation.payload === undefined ? {} : { payload: operation.payload }), at: now() });
    return {
      status: 200,
      body: {
        operationId: operation.operationId,
        status: 'assigned',
        registrationState: {
          registrationId,
          createdDateTimeUtc,
          assignedHub,
          deviceId,
          status: 'assigned',
          substatus,
          lastUpdatedDateTimeUtc: iso(),
          etag: Buffer.from(JSON.stringify(randomUUID())).toString('base64'),
          ...(operation.payload === undefined ? {} : { payload: operation.payload }),
        },
      },
    };
  }

  const tlsOptions = { cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: false } : {}) };
  const endpoints = await listenMqttEndpoints({
    tls: tlsOptions,
    handle: (stream, tlsSocket) => {
      tlsOf.set(stream, tlsSocket);
      broker.handle(stream);
    },
    refused: (detail) => violation('websocket', '(before CONNECT)', detail),
  });
  const { port, wssPort } = endpoints;

  Object.assign(emulator, {
    url: `mqtts://127.0.0.1:${port}`,
    endpoint: `127.0.0.1:${port}`,
    wssUrl: `wss://127.0.0.1:${wssPort}/$iothub/websocket`,
    idScope: options.idScope,
    registrations,
    requests,
    violations,
    refusals,
    throttle(count: number, seconds: number) {
      if (!Number.isInteger(count) || count < 0 || !Number.isInteger(seconds) || seconds < 0) throw new Error('throttle(count, retryAfterSeconds) takes whole numbers');
      throttled = { count, seconds };
    },
    setDisabled(id: string, disabled: boolean) {
      const enrollment = enrollments.find((e) => (e.kind === 'group' ? e.groupId === id : e.registrationId.toLowerCase() === id.toLowerCase()));
      if (!enrollment) throw new Error(`no enrollment ${id}`);
      enrollment.disabled = disabled;
    },
    waitFor: events.waitFor,
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await endpoints.close();
    },
  } satisfies DpsEmulator);
  return emulator;
}
