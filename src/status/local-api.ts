// The running agent answers `edge-agent status` over a Unix socket in its data dir: no TCP port to
// collide with or to expose, and file permissions decide who may ask.
import { createServer, request, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusSnapshot } from './snapshot.ts';

export function statusSocketPath(dataDir: string): string {
  return join(dataDir, 'agent.sock');
}

export async function startLocalApi(socketPath: string, snapshot: () => StatusSnapshot): Promise<Server> {
  // A socket file left by a killed agent would make listen() fail with EADDRINUSE.
  rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/status') {
      const body = JSON.stringify(snapshot());
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  server.unref();
  return server;
}

export function fetchStatus(socketPath: string, timeoutMs = 3000): Promise<StatusSnapshot> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/status', method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusSnapshot);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from the agent within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
