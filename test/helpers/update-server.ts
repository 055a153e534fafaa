// A local HTTPS file server for download tests, with the faults the field produces: a connection
// cut mid-body (a cell tower lost), a server that ignores Range, a file replaced between requests.
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeTestPki } from './test-ca.ts';

export interface ServedRequest {
  path: string;
  range?: string;
  ifRange?: string;
  /** What the server answered; 0 when it dropped the connection before answering (a cut at or before the first byte). */
  status: number;
}

export interface UpdateServer {
  /** https://127.0.0.1:<port><path> */
  url(path: string): string;
  ca: Buffer;
  caPath: string;
  /** What a path serves: a strong ETag (a hash of the body), Accept-Ranges, one Range, If-Range. A function is called per request. */
  serve(path: string, body: Buffer | (() => Buffer)): void;
  /** Answers requests for `path` with a 302 to `location`. */
  redirect(path: string, location: string): void;
  /** For the next responses of `path`: the i-th is cut (socket destroyed) once the body reaches absolute byte offsets[i]. */
  cutAfter(path: string, offsets: number[]): void;
  /** Like cutAfter, but the connection stays open and silent, as a link that stopped carrying packets. Replaces pending cuts. */
  stallAfter(path: string, offsets: number[]): void;
  requests: ServedRequest[];
  /** Closes every connection and removes the PKI directory. */
  close(): Promise<void>;
}

/** Bodies go out in pieces this big, so a cut lands mid-body with earlier pieces already sent. */
const CHUNK_BYTES = 64 * 1024;

/** `ignoreRange`: answer every request with the whole body and a 200, as servers without range support do. */
export async function startUpdateServer(options: { ignoreRange?: boolean } = {}): Promise<UpdateServer> {
  const pki = makeTestPki();
  const bodies = new Map<string, () => Buffer>();
  const redirects = new Map<string, string>();
  const faults = new Map<string, { at: number; stall: boolean }[]>();
  const requests: ServedRequest[] = [];

  const server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    const seen: ServedRequest = { path, status: 0 };
    if (req.headers.range !== undefined) seen.range = req.headers.range;
    if (typeof req.headers['if-range'] === 'string') seen.ifRange = req.headers['if-range'];
    requests.push(seen);
    const location = redirects.get(path);
    const source = bodies.get(path);
    if (location !== undefined || source === undefined) {
      seen.status = location !== undefined ? 302 : 404;
      res.writeHead(seen.status, location !== undefined ? { location } : {}).end();
      return;
    }
    const body = source();
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const headers: Record<string, string | number> = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    let [start, end] = [0, body.length];
    // If-Range (RFC 9110 §13.1.5): the range only applies to the representation the client names.
    const range = options.ignoreRange || (seen.ifRange !== undefined && seen.ifRange !== etag) ? undefined : seen.range;
    const asked = range === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(range);
    if (asked) {
      start = Number(asked[1]);
      end = asked[2] ? Math.min(Number(asked[2]) + 1, body.length) : body.length;
      if (start >= end) {
        seen.status = 416;
        res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${end - 1}/${body.length}`;
    }
    const fault = faults.get(path)?.shift();
    if (fault && !fault.stall && fault.at <= start) {
      req.socket.destroy();
      return;
    }
    seen.status = asked ? 206 : 200;
    res.writeHead(seen.status, { ...headers, 'content-length': end - start });
    sendBody(res, body, start, end, fault && fault.at < end ? { ...fault, at: Math.max(fault.at, start) } : undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: (path) => `https://127.0.0.1:${port}${path}`,
    ca: pki.ca,
    caPath: pki.caPath,
    serve(path, body) {
      bodies.set(path, typeof body === 'function' ? body : () => body);
    },
    redirect(path, location) {
      redirects.set(path, location);
    },
    cutAfter(path, offsets) {
      faults.set(path, offsets.map((at) => ({ at, stall: false })));
    },
    stallAfter(path, offsets) {
      faults.set(path, offsets.map((at) => ({ at, stall: true })));
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          pki.cleanup();
          resolve();
        });
      }),
  };
}

/** Writes body[start, end) in chunks, honouring backpressure; a fault stops it at `fault.at`. */
function sendBody(res: ServerResponse, body: Buffer, start: number, end: number, fault: { at: number; stall: boolean } | undefined): void {
  const stop = fault?.at ?? end;
  let position = start;
  const pump = (): void => {
    while (position < stop) {
      const chunk = body.subarray(position, Math.min(stop, position + CHUNK_BYTES));
      position += chunk.length;
      if (position === stop && fault) {
        // The write callback runs once the bytes are handed to the socket, so the client receives
        // everything up to the cut before the connection dies.
        res.write(chunk, () => (fault.stall ? undefined : res.socket?.destroy()));
        return;
      }
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (fault) res.flushHeaders(); // a stall before the first byte: headers, then silence
    else res.end();
  };
  pump();
}
