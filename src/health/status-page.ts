// The status page a technician opens on site: /, its two static files, and its data (/api/status,
// and /api/events, which pushes the same every second while a page is open and nothing otherwise).
// Read-only: there is no route that changes anything. On a loopback address (the default) it is
// open like /health; on any other address it needs health.http.token, sent as "Authorization:
// Bearer <token>" or, on a browser's first visit, as /?token=<token>, which is exchanged for an
// HttpOnly cookie and dropped from the address bar by a redirect.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Secret } from '../config/primitives.ts';
import { APP_CSS } from './page/app-css.ts';
import { APP_JS } from './page/app-js.ts';
import { INDEX_HTML } from './page/index-html.ts';
import type { PageData } from './page-data.ts';

/** Pages open at once that get pushed data; more are told to poll. Each costs one snapshot a second. */
const MAX_EVENT_STREAMS = 8;
const PUSH_INTERVAL_MS = 1000;
/** What one open page may leave unread before its stream is closed: a minute of updates or so. */
const MAX_UNREAD_BYTES = 256 * 1024;
const COOKIE = 'edge-agent-status';

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

const FILES: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: INDEX_HTML },
  '/app.js': { type: 'text/javascript; charset=utf-8', body: APP_JS },
  '/app.css': { type: 'text/css; charset=utf-8', body: APP_CSS },
};

export interface StatusPageOptions {
  /** health.http.listen: whether the page is on loopback decides whether it needs the token. */
  listen: string;
  token: Secret | undefined;
  data: () => PageData;
}

export function isLoopback(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export class StatusPage {
  readonly #o: StatusPageOptions;
  readonly #open: boolean;
  /** The cookie's value: derived from the token, so the token itself never sits in a browser. */
  readonly #session: Buffer | undefined;
  readonly #streams = new Set<ServerResponse>();
  #pushTimer: NodeJS.Timeout | undefined;

  constructor(options: StatusPageOptions) {
    this.#o = options;
    this.#open = isLoopback(options.listen);
    this.#session = options.token ? createHash('sha256').update(`edge-agent status page\0${options.token.reveal()}`).digest() : undefined;
  }

  /** Whether the page can be served at all here: on a LAN address it needs a token. */
  get available(): boolean {
    return this.#open || this.#session !== undefined;
  }

  /** Serves the page's routes; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): boolean {
    const file = FILES[path];
    if (!file && path !== '/api/status' && path !== '/api/events') return false;
    if (!this.available) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end(`the status page is off on ${this.#o.listen}: it is not a loopback address, so the page needs health.http.token in the config\n`);
      return true;
    }
    const token = query.get('token');
    if (path === '/' && token !== null) {
      if (!this.#matches(this.#sessionOf(token))) return this.#refuse(res), true;
      // The token leaves the address bar and the history: the cookie carries a value derived from it.
      res.writeHead(303, { location: '/', 'set-cookie': `${COOKIE}=${this.#session!.toString('hex')}; HttpOnly; SameSite=Strict; Path=/`, ...SECURITY_HEADERS }).end();
      return true;
    }
    if (!this.#open && !this.#authorized(req)) return this.#refuse(res), true;
    if (file) res.writeHead(200, { 'content-type': file.type, ...SECURITY_HEADERS }).end(req.method === 'HEAD' ? undefined : file.body);
    else if (path === '/api/status') res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS }).end(JSON.stringify(this.#o.data()));
    else this.#stream(req, res);
    return true;
  }

  close(): void {
    clearInterval(this.#pushTimer);
    this.#pushTimer = undefined;
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
  }

  #stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.#streams.size >= MAX_EVENT_STREAMS) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5', ...SECURITY_HEADERS }).end('too many open status pages: this one polls instead\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write(`retry: 2000\ndata: ${JSON.stringify(this.#o.data())}\n\n`);
    this.#streams.add(res);
    req.on('close', () => {
      this.#streams.delete(res);
      if (this.#streams.size === 0) {
        clearInterval(this.#pushTimer);
        this.#pushTimer = undefined;
      }
    });
    // One timer for every open page, and none while nobody looks.
    this.#pushTimer ??= setInterval(() => {
      const message = `data: ${JSON.stringify(this.#o.data())}\n\n`;
      for (const stream of this.#streams) {
        // A page that stopped reading (a phone asleep on a kept connection) must not pile messages
        // up in the agent: past a bound its stream is closed, and the page reconnects when it wakes.
        if (stream.writableLength > MAX_UNREAD_BYTES) stream.destroy();
        else stream.write(message);
      }
    }, PUSH_INTERVAL_MS);
  }

  #authorized(req: IncomingMessage): boolean {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return this.#matches(this.#sessionOf(bearer));
    const cookie = (req.headers.cookie ?? '').split(/;\s*/).find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
    return cookie !== undefined && /^[0-9a-f]{64}$/.test(cookie) && this.#matches(Buffer.from(cookie, 'hex'));
  }

  #sessionOf(token: string): Buffer {
    return createHash('sha256').update(`edge-agent status page\0${token}`).digest();
  }

  #matches(candidate: Buffer): boolean {
    return this.#session !== undefined && candidate.length === this.#session.length && timingSafeEqual(candidate, this.#session);
  }

  #refuse(res: ServerResponse): void {
    res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer realm="edge-agent"', ...SECURITY_HEADERS }).end('401: this status page needs the token from health.http.token: open /?token=<token>, or send "Authorization: Bearer <token>"\n');
  }
}
