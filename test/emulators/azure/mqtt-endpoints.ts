// How a device reaches IoT Hub and DPS, shared by both emulators: MQTT over TLS on a port (8883 in
// the cloud), and MQTT over WebSockets over TLS at /$iothub/websocket with the "mqtt" subprotocol
// (443 in the cloud; learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub, "Using the MQTT
// protocol directly" and "MQTT over WebSockets"). A WebSocket upgrade with another path or
// subprotocol is refused as the service refuses it, and reported as a violation.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer, type Server, type TlsOptions, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';

export interface MqttEndpoints {
  port: number;
  wssPort: number;
  /** Ends every connection and stops listening (close the broker first). */
  close(): Promise<void>;
}

export async function listenMqttEndpoints(options: {
  tls: TlsOptions;
  /** For the WebSocket listener, when it differs (the hub asks no client certificate there). */
  wssTls?: TlsOptions;
  /** A connection's MQTT stream, and the TLS socket under it (its client certificate, if any). */
  handle: (stream: Duplex, tlsSocket: TLSSocket) => void;
  /** A WebSocket upgrade the service would refuse, with what was wrong. */
  refused: (detail: string) => void;
}): Promise<MqttEndpoints> {
  const server: Server = createServer(options.tls, (socket) => options.handle(socket, socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const webSockets = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
  const wssServer: HttpsServer = createHttpsServer(options.wssTls ?? options.tls, (_req, res) => res.writeHead(404).end());
  wssServer.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'https://azure').pathname;
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '');
    const wrong = path !== '/$iothub/websocket' ? `path ${path.slice(0, 200)}, not /$iothub/websocket` : !/(^|,)\s*mqtt\s*(,|$)/.test(protocols) ? `subprotocol "${protocols.slice(0, 200)}", not mqtt` : undefined;
    if (wrong) {
      options.refused(wrong);
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    webSockets.handleUpgrade(req, socket, head, (ws) => options.handle(createWebSocketStream(ws), req.socket as TLSSocket));
  });
  await new Promise<void>((resolve) => wssServer.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    wssPort: (wssServer.address() as AddressInfo).port,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of webSockets.clients) socket.terminate();
      await new Promise<void>((resolve) => webSockets.close(() => resolve()));
      wssServer.closeAllConnections();
      await new Promise<void>((resolve) => wssServer.close(() => resolve()));
    },
  };
}
