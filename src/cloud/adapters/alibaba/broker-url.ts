import type { AlibabaConfig } from '../alibaba.ts';

/**
 * The instance's endpoint for the chosen transport, unless cloud.url overrides it (alibabacloud.com
 * help "Establish MQTT connections over TCP", doc 73742, and "over WebSocket", doc 63656).
 */
export function brokerUrl(config: AlibabaConfig): string {
  if (config.url) return config.url;
  const host = config.endpoint ?? `${config.productKey}.iot-as-mqtt.${config.regionId}.aliyuncs.com`;
  return { tls: `mqtts://${host}:1883`, tcp: `mqtt://${host}:1883`, wss: `wss://${host}:443/`, ws: `ws://${host}:443/` }[config.transport];
}
