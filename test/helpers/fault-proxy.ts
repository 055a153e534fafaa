// A TCP proxy between the agent and a broker that can black-hole, reset, delay or refuse the link,
// the way a cellular modem does when the tower goes away.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './free-port.ts';

export type FaultMode = { kind: 'pass' } | { kind: 'blackhole' } | { kind: 'delay'; ms: number } | { kind: 'refuse' };

export interface FaultProxy {
  port: number;
  url: string;
  /** Connections accepted so far (each agent connection attempt that reached the proxy). */
  accepted: number;
  acceptedAt: number[];
  /** Bytes that crossed the proxy from the client to the broker (what the agent put on the wire). */
  bytesUp: number;
  setMode(mode: FaultMode): void;
  /** Kills every open connection with a TCP RST. */
  reset(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const port = await freePort();
  let mode: FaultMode = { kind: 'pass' };
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const proxy: FaultProxy = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    accepted: 0,
    acceptedAt: [],
    bytesUp: 0,
    setMode(next) {
      mode = next;
    },
    reset() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.reset();
        server.close(() => resolve());
      }),
  };
  const forward = (from: Socket, to: Socket, upstream: boolean) => {
    from.on('data', (chunk: Buffer) => {
      if (upstream) proxy.bytesUp += chunk.length;
      // Black-holed bytes vanish, like packets into a dead cell link: no error, no close.
      if (mode.kind === 'blackhole') return;
      if (mode.kind === 'delay') {
        const delayed = mode.ms;
        from.pause();
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        }, delayed);
      } else if (!to.destroyed) to.write(chunk);
    });
  };
  const server: Server = createServer((client) => {
    proxy.accepted++;
    proxy.acceptedAt.push(Date.now());
    if (mode.kind === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    forward(client, upstream, true);
    forward(upstream, client, false);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return proxy;
}
