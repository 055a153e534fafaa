// Who the gateway is on its IoT Hub: the hub host, the device id and the device key (none with an
// X.509 client certificate). From the config's connection string or fields, or from a DPS
// assignment (credentials.ts).
import type { AzureConfig } from '../azure.ts';
import { parseConnectionString } from './sas-token.ts';

/** A hub's host name, and an IoT Hub device id: up to 128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ ' (learn.microsoft.com, "Understand the identity registry"); never / + # that would change a topic. */
export const HUB_HOST = /^[A-Za-z0-9.-]{1,253}$/;
export const DEVICE_ID = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

export interface AzureIdentity {
  host: string;
  deviceId: string;
  /** base64 device key; undefined with X.509. */
  key?: string;
}

/** Separate fields win over the connection string's. */
export function partialIdentityOf(config: AzureConfig): Partial<AzureIdentity> {
  const parsed = config.connectionString ? parseConnectionString(config.connectionString.reveal()) : {};
  const host = config.hostName ?? parsed.hostName;
  const deviceId = config.deviceId ?? parsed.deviceId;
  const key = config.sharedAccessKey?.reveal() ?? parsed.sharedAccessKey;
  return { ...(host ? { host } : {}), ...(deviceId ? { deviceId } : {}), ...(key ? { key } : {}) };
}

export function identityOf(config: AzureConfig): AzureIdentity {
  const { host, deviceId, key } = partialIdentityOf(config);
  if (!host || !deviceId) throw new Error('cloud.connectionString: expected HostName=…;DeviceId=…;SharedAccessKey=… (HostName or DeviceId missing)');
  return { host, deviceId, ...(key ? { key } : {}) };
}

/** mqtts on 8883, or wss on 443 for networks that only let HTTPS out (learn.microsoft.com, "Communicate with an IoT hub using the MQTT protocol"). */
export function hubUrl(config: AzureConfig, host: string): string {
  return config.url ?? (config.transport === 'wss' ? `wss://${host}:443/$iothub/websocket` : `mqtts://${host}:8883`);
}

/** DPS over the same transport as the hub: mqtts 8883, or wss 443 at /$iothub/websocket (the SDK's mqtt_ws.ts). */
export function dpsUrl(config: AzureConfig): string | undefined {
  const endpoint = config.provisioning?.endpoint;
  if (endpoint === undefined) return undefined;
  const withPort = (port: number) => (endpoint.includes(':') ? endpoint : `${endpoint}:${port}`);
  return config.transport === 'wss' ? `wss://${withPort(443)}/$iothub/websocket` : `mqtts://${withPort(8883)}`;
}
