// Checks of the way to the cloud, one layer at a time, so the first failure names the culprit:
// name resolution, TCP reach, TLS handshake and certificate, then a real MQTT CONNECT with the
// adapter's own connect options (the credentials the agent would use).
import { lookup } from 'node:dns/promises';
import { isIP, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import mqtt from 'mqtt';
import type { ConnectOptions } from '../../cloud/adapter.ts';
import { describeConnackRefusal } from '../../cloud/connack.ts';
import { brokerAddress, endpointOf, toMqttOptions } from '../../cloud/mqtt-options.ts';
import type { LinkWarning } from '../../cloud/link-warnings.ts';
import { fail, ok, warn, type CheckResult } from './check.ts';
import { MAX_INCOMING_BYTES } from '../../cloud/bounded-json.ts';

const TIMEOUT_MS = 10_000;
const CERT_WARN_DAYS = 30;

export type Endpoint = ReturnType<typeof endpointOf>;
export { endpointOf };

export async function checkDns(endpoint: Endpoint): Promise<CheckResult> {
  try {
    const addresses = await lookup(endpoint.host, { all: true });
    return ok('DNS', `${endpoint.host} -> ${addresses.map((a) => a.address).join(', ')}`);
  } catch (error) {
    return fail('DNS', `cannot resolve ${endpoint.host} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, 'check /etc/resolv.conf and the uplink (cellular APN, DHCP); try: getent hosts ' + endpoint.host);
  }
}

export function checkTcp(endpoint: Endpoint): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: endpoint.host, port: endpoint.port, timeout: TIMEOUT_MS });
    const done = (result: CheckResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => done(ok('TCP', `${endpoint.host}:${endpoint.port} reachable`)));
    socket.once('timeout', () => done(fail('TCP', `no answer from ${endpoint.host}:${endpoint.port} within ${TIMEOUT_MS / 1000} s`, `a firewall or the mobile operator blocks port ${endpoint.port} outbound; allow it, or use the cloud's WebSocket endpoint on port 443 if it has one`)));
    socket.once('error', (error: NodeJS.ErrnoException) => done(fail('TCP', `cannot connect to ${endpoint.host}:${endpoint.port} (${error.code ?? error.message})`, `check that the port is right and open outbound; ECONNREFUSED means nothing listens there`)));
  });
}

export function checkTls(endpoint: Endpoint, options: Pick<ConnectOptions, 'tls'>, now = Date.now()): Promise<CheckResult> {
  const tls = options.tls;
  const servername = tls?.servername ?? endpoint.host;
  const verify = tls?.rejectUnauthorized ?? true;
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: endpoint.host,
      port: endpoint.port,
      // SNI carries host names only (RFC 6066, 3); given an IP address Node prints DEP0123 on stderr.
      ...(isIP(servername) === 0 ? { servername } : {}),
      ...(tls?.ca ? { ca: tls.ca } : {}),
      ...(tls?.cert ? { cert: tls.cert } : {}),
      ...(tls?.key ? { key: tls.key } : {}),
      rejectUnauthorized: false,
      timeout: TIMEOUT_MS,
    });
    const done = (result: CheckResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('secureConnect', () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      const expires = Date.parse(cert.valid_to);
      const starts = Date.parse(cert.valid_from);
      const cn = cert.subject?.CN;
      const subject = Array.isArray(cn) ? cn.join(', ') : (cn ?? endpoint.host);
      const reason = String(socket.authorizationError);
      if (!socket.authorized && verify) {
        const clockHint = now < starts ? ` (the certificate is valid only from ${cert.valid_from}: is the clock right?)` : '';
        return done(fail('TLS', `the server certificate for ${subject} is not trusted: ${reason}${clockHint}`, 'set cloud.tls.ca to the CA that signed the broker certificate, and check the host name in cloud.url'));
      }
      // With verification off the agent connects anyway; say what verification would have refused.
      const untrusted = socket.authorized ? '' : `; the certificate would not be trusted (${reason})`;
      if (expires - now < CERT_WARN_DAYS * 86_400_000) return done(warn('TLS', `certificate for ${subject} expires ${cert.valid_to}${untrusted}`, 'renew the broker certificate'));
      done(ok('TLS', `${socket.getProtocol() ?? 'TLS'} handshake with ${subject}, certificate valid until ${cert.valid_to}${untrusted}`));
    });
    socket.once('timeout', () => done(fail('TLS', `no TLS handshake from ${endpoint.host}:${endpoint.port} within ${TIMEOUT_MS / 1000} s`, 'is this a TLS port? mqtts usually listens on 8883, plain mqtt on 1883')));
    socket.once('error', (error: NodeJS.ErrnoException) => done(fail('TLS', `TLS handshake failed (${error.code ?? error.message})`, 'is this a TLS port? check cloud.url (mqtts:// vs mqtt://) and the client certificate if the broker asks for one')));
  });
}

/**
 * The TLS line as the link's warnings (link-warnings.ts) make it: a handshake that worked is WARN
 * when certificates go unchecked; a warning with no TLS line to join (plain mqtt://, checks that
 * stopped earlier) is a WARN line of its own.
 */
export function withLinkWarnings(tls: CheckResult | undefined, warnings: LinkWarning[]): CheckResult[] {
  const verificationOff = tls && tls.status !== 'FAIL' ? warnings.find((w) => w.event === 'tls-verification-off') : undefined;
  const rest = warnings.filter((w) => w !== verificationOff).map((w) => warn(w.event === 'credentials-in-url-ignored' ? 'cloud' : 'TLS', w.message, w.fix));
  if (!tls) return rest;
  if (!verificationOff) return [tls, ...rest];
  return [warn('TLS', `${verificationOff.message} (${tls.detail})`, [verificationOff.fix, tls.fix].filter(Boolean).join('; ')), ...rest];
}

/**
 * Connects as the agent does (the same option mapping, the agent's client id). Where the agent keeps
 * a persistent session, so does doctor (a clean connect would discard the commands the broker kept
 * for the agent), and it acknowledges nothing it is sent: unacknowledged, a kept command is delivered
 * again to the agent's next connection.
 */
export async function checkCredentials(options: ConnectOptions, sessionExpirySeconds: number): Promise<CheckResult> {
  const client = mqtt.connect({
    ...brokerAddress(options.url),
    ...toMqttOptions(options, TIMEOUT_MS, { clean: !options.persistentSession, sessionExpirySeconds, maxIncomingBytes: MAX_INCOMING_BYTES }),
    customHandleAcks: () => undefined,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('the broker closed the connection before accepting it')));
    });
    return ok('credentials', `the broker accepted client ${options.clientId}${options.username ? ` as ${options.username}` : ''}`);
  } catch (error) {
    const code = (error as { code?: number | string }).code;
    const refusal = typeof code === 'number' ? describeConnackRefusal(code) : undefined;
    if (refusal?.auth) {
      return fail('credentials', `the broker refused the credentials (CONNACK ${code}: ${refusal.text})`, 'check the username, password, key or device certificate in the cloud section (and that the device is registered and enabled in the cloud)');
    }
    return fail('credentials', `MQTT connect failed: ${(error as Error).message}`, 'see the TCP and TLS lines above; check the client id rules of the cloud');
  } finally {
    client.end(true);
  }
}
