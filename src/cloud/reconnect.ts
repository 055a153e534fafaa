// How the session gets back to the cloud after a connection ends, decided by why it ended.
//
// A full reconnect is expensive for both sides (TCP + TLS + MQTT CONNECT with signed credentials),
// so a blind exponential backoff caps its own cost by waiting longer and longer, and after a long
// outage a gateway sits idle for up to the cap (60 s) after the network is back. Most outages in
// the field are the network (a cell drops, a router reboots), not the cloud refusing us, so the
// failure is classified first:
// - refused: the cloud answered and said no (CONNACK refusal, a certificate that does not verify).
//   Retrying soon cannot help and a fleet retrying soon is a storm: the long backoff, up to
//   `reconnectMax`.
// - unreachable: no TCP connection at all (refused port, no route, DNS, timeout). Instead of full
//   attempts, the session probes with a bare TCP connect at a short, jittered interval and connects
//   as soon as one succeeds, after a small random spread. A probe is a SYN and a close: while the
//   network is down it never leaves the gateway, and when the cloud's front end is down it is the
//   cheapest thing a client can ask of it.
// - failed: TCP got through but the session did not (reset, CONNACK timeout, server unavailable):
//   the cloud's front end is up and its back end is not. Full attempts with full jitter, but capped
//   low so the gateway is back within seconds of the back end.
// The fleet reasoning (10,000 gateways behind one cell network) is in the README, "The link after
// an outage"; test/unit/cloud-reconnect.test.ts simulates it.
import { connect } from 'node:net';
import { fullJitterDelay } from './backoff.ts';
import { endpointOf } from './mqtt-options.ts';

export type FailureKind = 'refused' | 'unreachable' | 'failed';

export interface ReconnectTiming {
  /** A probe is started every probeMinMs..probeMaxMs (uniform), measured start to start. */
  probeMinMs: number;
  probeMaxMs: number;
  /** A probe that has not connected by then counts as unreachable. */
  probeTimeoutMs: number;
  /** After a successful probe, the full connect waits 0..spreadMs (uniform). */
  spreadMs: number;
  /** Cap of the full-jitter backoff for "failed" (reachable, but the session did not come up). */
  failedCapMs: number;
}

/**
 * Worst case from the endpoint answering to the full connect starting: probeMaxMs + spreadMs = 8 s,
 * inside the 10 s the operators were promised, also when a probe in flight at the return takes its
 * whole timeout to fail (probes start every probeMinMs..probeMaxMs whatever they take; one that
 * takes longer is followed at once); on average about 2.5 s + 1.5 s.
 */
export const DEFAULT_RECONNECT_TIMING: ReconnectTiming = { probeMinMs: 2000, probeMaxMs: 5000, probeTimeoutMs: 3000, spreadMs: 3000, failedCapMs: 8000 };

/** Errors of the socket itself, before any byte of MQTT: the endpoint could not be reached. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ENONET']);

/** TLS verification failures are a configuration problem (wrong CA, clock, host name): retrying soon cannot fix them. */
const TLS_REFUSAL = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_)/;

export function classifyConnectError(code: string | number | undefined): FailureKind {
  if (typeof code === 'number') return 'refused'; // a CONNACK return or reason code
  if (code === undefined) return 'failed';
  if (UNREACHABLE_CODES.has(code)) return 'unreachable';
  if (TLS_REFUSAL.test(code)) return 'refused';
  return 'failed';
}

/** The full-jitter delay before the next full attempt for a refused or failed connection. */
export function backoffDelay(kind: Exclude<FailureKind, 'unreachable'>, attempt: number, baseMs: number, reconnectMaxMs: number, timing: ReconnectTiming, random: () => number): number {
  const cap = kind === 'refused' ? reconnectMaxMs : Math.min(reconnectMaxMs, timing.failedCapMs);
  return fullJitterDelay(attempt, baseMs, cap, random);
}

export interface ReachabilityIo {
  probe(): Promise<boolean>;
  sleep(ms: number): Promise<void>;
  now(): number;
  random(): number;
  /** False once the session is stopping: the wait ends at once. */
  running(): boolean;
  /** Told before each wait, for status ("next attempt at"). */
  onNextProbe?(at: number): void;
}

/**
 * Probes until the endpoint answers, then waits the random spread. Resolves true when it is
 * time for a full connect, false when the session stopped meanwhile.
 */
export async function waitUntilReachable(io: ReachabilityIo, timing: ReconnectTiming): Promise<boolean> {
  // Start to start: where SYNs vanish (a cell network gone), a probe takes its whole timeout to
  // fail, and counting the interval from its end would push the worst case past 10 s.
  let lastStart = io.now();
  for (;;) {
    const interval = timing.probeMinMs + io.random() * (timing.probeMaxMs - timing.probeMinMs);
    const nextAt = lastStart + interval;
    io.onNextProbe?.(nextAt);
    await io.sleep(Math.max(0, nextAt - io.now()));
    if (!io.running()) return false;
    lastStart = io.now();
    if (await io.probe()) break;
    if (!io.running()) return false;
  }
  await io.sleep(io.random() * timing.spreadMs);
  return io.running();
}

/** A bare TCP connect and close: does anything answer at the endpoint? */
export function probeTcp(url: string, timeoutMs: number): Promise<boolean> {
  const { host, port } = endpointOf(url);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (reachable: boolean) => {
      socket.destroy();
      resolve(reachable);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
