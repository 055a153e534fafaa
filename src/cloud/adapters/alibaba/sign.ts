// Alibaba Cloud IoT Platform MQTT sign-in ("Establish MQTT connections over TCP", doc 73742):
// password = hex HMAC(deviceSecret, the parameters clientId, deviceName, productKey, timestamp
// sorted by name and concatenated name+value). securemode and signmethod are not signed.
// (The official JS SDK always signs with SHA-1 whatever it advertises; this does not copy that bug.)
import { createHmac } from 'node:crypto';

export type SignMethod = 'hmacsha256' | 'hmacsha1' | 'hmacmd5';

const ALGORITHM: Record<SignMethod, string> = { hmacsha256: 'sha256', hmacsha1: 'sha1', hmacmd5: 'md5' };

export interface SignInput {
  clientId: string;
  deviceName: string;
  productKey: string;
  timestamp?: string;
}

export function signContent(input: SignInput): string {
  const pairs: [string, string][] = [['clientId', input.clientId], ['deviceName', input.deviceName], ['productKey', input.productKey]];
  if (input.timestamp !== undefined) pairs.push(['timestamp', input.timestamp]);
  return pairs
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => k + v)
    .join('');
}

export function signPassword(method: SignMethod, secret: string, input: SignInput): string {
  return createHmac(ALGORITHM[method], secret).update(signContent(input)).digest('hex');
}

/** `{id}|securemode=2,signmethod=hmacsha256,timestamp=…|` */
export function mqttClientId(id: string, secureMode: 2 | 3, method: SignMethod, timestamp: string): string {
  return `${id}|securemode=${secureMode},signmethod=${method},timestamp=${timestamp}|`;
}

export function parseClientId(clientId: string): { id: string; params: Record<string, string> } | undefined {
  const match = /^([^|]{1,64})\|([^|]*)\|$/.exec(clientId);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const pair of match[2]!.split(',')) {
    const at = pair.indexOf('=');
    if (at > 0) params[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return { id: match[1]!, params };
}
