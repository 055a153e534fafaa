// One file over HTTPS, resumed where a cut left it: agent.update fetches a ~120 MB binary over cellular
// links that drop every few minutes, where starting over after each cut might never finish. Resuming
// follows RFC 9110 (§14.2 Range, §13.1.5 If-Range, §15.3.7 206, §15.5.17 416). Integrity is the caller's
// SHA-256 check (verify.ts); this module counts only bytes of one representation, flushed to the card.
import { open, rm, type FileHandle } from 'node:fs/promises';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { setTimeout as wait } from 'node:timers/promises';
import { z } from 'zod';
import { readBoundedJson } from '../config/read-json-file.ts';
import { writeFileAtomic } from '../config/write.ts';
import { AgentError } from '../errors.ts';

export interface DownloadOptions {
  /** Must be https://; anything else is refused before any network I/O. */
  url: string;
  /** The partial file: bytes already in it are kept and the download resumes after them. */
  file: string;
  /** Refused when the server announces more; never more than this is written. */
  maxBytes: number;
  /** Extra trusted CA (PEM), as the cloud's tls.ca. */
  ca?: Buffer;
  rejectUnauthorized?: boolean;
  /** Abort stops at once, keeps the partial file and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** No byte for this long counts as a cut (default 60 s). */
  idleTimeoutMs?: number;
  /** Consecutive failed attempts that brought no new byte before giving up (default 8). */
  maxAttemptsWithoutProgress?: number;
  /** Wait between attempts, doubled per failure without progress, with jitter (default 1 s .. 60 s). */
  backoff?: { baseMs: number; maxMs: number };
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** At most about once per second or per MB, and once at the end. */
  onProgress?: (received: number, total: number | undefined) => void;
  onRetry?: (info: { attempt: number; offset: number; reason: string; delayMs: number }) => void;
  /** Asked before bytes are written, with how many more the file needs: a reason to refuse (no room on the card), or undefined. */
  fits?: (neededBytes: number) => string | undefined;
}

export interface DownloadResult {
  bytes: number;
  attempts: number;
  /** Offsets from which a Range request resumed (a 206 starting there). */
  resumedAt: number[];
}

export class DownloadError extends AgentError {
  /** True when trying again cannot help (a 4xx, a file too big, a refused URL or certificate, a full disk). */
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean, options?: ErrorOptions) {
    super(message, undefined, options);
    this.permanent = permanent;
  }
}

/** Deletes the partial file and its sidecar, once the caller is done with them. */
export async function removeDownload(file: string): Promise<void> {
  await Promise.all([rm(file, { force: true }), rm(sidecarPath(file), { force: true })]);
}

/** `<file>.meta`: whose bytes the partial file holds, this URL's representation with this validator. */
const sidecarSchema = z.object({ url: z.string(), etag: z.string().optional(), lastModified: z.string().optional(), total: z.int().nonnegative().optional() });
type Sidecar = z.infer<typeof sidecarSchema>;
const sidecarPath = (file: string) => `${file}.meta`;

interface Transfer {
  options: DownloadOptions;
  target: URL;
  name: string;
  handle: FileHandle;
  size: number;
  sidecar: Sidecar;
  resumedAt: number[];
  progress: (received: number, total: number | undefined, final?: boolean) => void;
}

const MAX_REDIRECTS = 5;
/** fdatasync this often: a power cut loses at most this much, never counts unflushed bytes as had. */
const SYNC_EVERY_BYTES = 4 * 1024 * 1024;
/** Certificate verification failures (OpenSSL's X509 codes, Node's ERR_TLS_CERT_ALTNAME_INVALID). */
const UNTRUSTED_CERTIFICATE = /CERT|SELF_SIGNED|UNABLE_TO_(?:VERIFY|GET_ISSUER)/;

export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const target = httpsUrl(options.url);
  const name = `download of ${shown(target)}`;
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) throw new DownloadError(`${name} refused: maxBytes must be a positive integer`, true);
  const { signal, sleep = (ms, s) => wait(ms, undefined, { signal: s }), backoff = { baseMs: 1000, maxMs: 60_000 }, maxAttemptsWithoutProgress: patience = 8 } = options;
  signal?.throwIfAborted();
  const handle = await open(options.file, 'a').catch((error: Error) => {
    throw new DownloadError(`${name} failed: cannot open ${options.file} for writing (${error.message})`, true, { cause: error });
  });
  try {
    // Missing or damaged, the sidecar only costs a fresh start.
    const sidecar = sidecarSchema.safeParse(readBoundedJson(sidecarPath(options.file))).data;
    const t: Transfer = { options, target, name, handle, size: (await handle.stat()).size, sidecar: sidecar ?? { url: options.url }, resumedAt: [], progress: progressGate(options.onProgress) };
    // Bytes without a sidecar naming this URL belong to another download (or lost their validator): they cannot be vouched for.
    if (sidecar?.url !== options.url) await restart(t, { url: options.url });
    let attempts = 0;
    let withoutProgress = 0;
    for (;;) {
      attempts++;
      const before = t.size;
      try {
        if (await attempt(t)) return { bytes: t.size, attempts, resumedAt: t.resumedAt };
        // A shorter range than asked (some CDNs cap them): ask for the rest at once.
        if (t.size > before) continue;
        throw new Error(`the server sent no byte from offset ${before}`);
      } catch (error) {
        signal?.throwIfAborted();
        if (error instanceof DownloadError && error.permanent) throw error;
        const reason = (error as Error).message;
        // Progress is the file growing past where this attempt started: a server that ignores Range
        // and is cut at the same place every time would otherwise look busy forever.
        withoutProgress = t.size > before ? 0 : withoutProgress + 1;
        if (withoutProgress >= patience) {
          throw new DownloadError(`${name} failed: ${reason} (gave up after ${withoutProgress} attempts in a row without a new byte)`, false, { cause: error });
        }
        const delayMs = retryDelay(Math.max(withoutProgress - 1, 0), backoff);
        options.onRetry?.({ attempt: attempts, offset: t.size, reason, delayMs });
        // An abort during the wait rejects with the signal's reason, whatever the sleep rejected with.
        await sleep(delayMs, signal).finally(() => signal?.throwIfAborted());
      }
    }
  } finally {
    await handle.close();
  }
}

/** One request and its body. Resolves true when the file is complete; throws to retry or give up. */
async function attempt(t: Transfer): Promise<boolean> {
  const offset = t.size;
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    // A weak ETag never matches in If-Range (RFC 9110 §13.1.5): fall back to Last-Modified.
    const validator = t.sidecar.etag?.startsWith('"') ? t.sidecar.etag : t.sidecar.lastModified;
    if (validator !== undefined) headers['if-range'] = validator;
  }
  const { response, url } = await follow(t, headers);
  try {
    const status = response.statusCode ?? 0;
    const where = url.href === t.target.href ? '' : ` (redirected to ${shown(url)})`;
    // llhttp refuses a Content-Length that is not a plain decimal, so Number() sees only digits.
    const length = response.headers['content-length'] === undefined ? undefined : Number(response.headers['content-length']);
    const range = contentRange(response.headers['content-range']);
    if (status === 416 && offset > 0) {
      if (range?.total === offset) return true;
      await restart(t, { url: t.options.url });
      throw new Error(`the server has ${range?.total ?? 'an unknown number of'} bytes, the partial file had ${offset}; starting over`);
    }
    // 408 and 429 mean "later", not "never" (RFC 9110 §15.5.9, RFC 6585 §4).
    if (status >= 500 || status === 408 || status === 429) throw new Error(`HTTP ${status} ${STATUS_CODES[status] ?? ''}${where}`.trimEnd());
    if (status !== 200 && status !== 206) throw new DownloadError(`${t.name} failed: HTTP ${status} ${STATUS_CODES[status] ?? ''}${where}`, true);
    // Checked before anything is truncated or written: a refused file leaves the partial one as it was.
    const total = status === 200 ? length : (range?.total ?? t.sidecar.total);
    const end = status === 200 ? length : range?.end !== undefined ? range.end + 1 : undefined; // the file's size once this body is in
    const announced = Math.max(total ?? 0, end ?? 0);
    if (announced > t.options.maxBytes) throw new DownloadError(`${t.name} failed: the server announces ${announced} bytes, more than the ${t.options.maxBytes} allowed`, true);
    const noRoom = t.options.fits?.(announced - (status === 200 ? 0 : offset));
    if (noRoom) throw new DownloadError(`${t.name} refused: ${noRoom}`, true);
    if (status === 200) {
      // A 200 to a Range request: the server ignores ranges, or If-Range saw another representation.
      await restart(t, { url: t.options.url, etag: response.headers.etag, lastModified: response.headers['last-modified'], total: length });
    } else {
      if (range?.start !== offset || end === undefined) {
        await restart(t, { url: t.options.url });
        throw new Error(`the server answered "Content-Range: ${response.headers['content-range'] ?? ''}" to a request from byte ${offset}; starting over`);
      }
      if (offset > 0) t.resumedAt.push(offset);
    }
    await receive(t, response, end, total);
    if (end !== undefined && t.size < end) throw new Error(`the response ended at byte ${t.size} of ${end}`);
    const complete = total === undefined || t.size >= total;
    if (complete) t.progress(t.size, total, true);
    return complete;
  } finally {
    response.destroy();
  }
}

/** Streams the body to the file, one chunk in memory at a time, flushed every few MB and at the end. */
async function receive(t: Transfer, response: IncomingMessage, end: number | undefined, total: number | undefined): Promise<void> {
  const start = t.size;
  let unsynced = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      t.options.signal?.throwIfAborted();
      const after = t.size + chunk.length;
      if (end !== undefined && after > end) throw new DownloadError(`${t.name} failed: the server sent more than the ${end - start} bytes it announced`, true);
      if (after > t.options.maxBytes) throw new DownloadError(`${t.name} failed: the server sent more than the ${t.options.maxBytes} bytes allowed`, true);
      await onDisk(t, () => t.handle.appendFile(chunk));
      t.size = after;
      unsynced += chunk.length;
      if (unsynced >= SYNC_EVERY_BYTES) {
        await onDisk(t, () => t.handle.datasync());
        unsynced = 0;
      }
      t.progress(t.size, total);
    }
  } catch (error) {
    if (error instanceof DownloadError || t.options.signal?.aborted) throw error;
    throw new Error(`connection cut after ${t.size - start} bytes of this response (${(error as Error).message})`, { cause: error });
  } finally {
    if (unsynced > 0) await onDisk(t, () => t.handle.datasync());
  }
}

/** Sends the request, following at most MAX_REDIRECTS https redirects. */
async function follow(t: Transfer, headers: Record<string, string>): Promise<{ response: IncomingMessage; url: URL }> {
  let url = t.target;
  for (let hops = 0; ; hops++) {
    const response = await send(t, url, headers);
    const location = response.headers.location;
    const status = response.statusCode ?? 0;
    if (status < 300 || status >= 400 || status === 304 || location === undefined) return { response, url };
    response.destroy();
    if (hops === MAX_REDIRECTS) throw new DownloadError(`${t.name} failed: more than ${MAX_REDIRECTS} redirects (last to ${shown(url)})`, true);
    const next = URL.parse(location, url.href);
    if (next?.protocol !== 'https:') throw new DownloadError(`${t.name} failed: redirected to ${next ? `${shown(next)}, which is not https` : 'an invalid Location'}`, true);
    url = next;
  }
}

function send(t: Transfer, url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
  const idleMs = t.options.idleTimeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    // agent: false: a fresh connection per attempt, never a pooled socket the cell link silently dropped.
    const options = { headers, agent: false, timeout: idleMs, rejectUnauthorized: t.options.rejectUnauthorized ?? true, ca: t.options.ca, signal: t.options.signal };
    // Loaded on the first download, not at every start of the agent.
    const req = process.getBuiltinModule('node:https').request(url, options, (res) => resolve((response = res)));
    req.on('timeout', () => {
      const error = new Error(`no byte for ${idleMs / 1000} s`);
      response?.destroy(error);
      req.destroy(error);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== undefined && UNTRUSTED_CERTIFICATE.test(error.code)) {
        const hint = /NOT_YET_VALID|EXPIRED/.test(error.code) ? 'check the system clock (timedatectl)' : 'set update.tls.ca to the CA that signs it';
        reject(new DownloadError(`${t.name} failed: the certificate of ${url.host} is not trusted (${error.message}); ${hint}`, true, { cause: error }));
      } else reject(error);
    });
    req.end();
  });
}

/**
 * Empties the file and names the representation it will hold. Truncated and flushed before the
 * sidecar is replaced: a power cut in between leaves an empty file, never old bytes under a new ETag.
 */
async function restart(t: Transfer, sidecar: Sidecar): Promise<void> {
  await onDisk(t, async () => {
    await t.handle.truncate(0);
    await t.handle.datasync();
    writeFileAtomic(sidecarPath(t.options.file), JSON.stringify(sidecar));
  });
  t.size = 0;
  t.sidecar = sidecar;
}

function onDisk<T>(t: Transfer, operation: () => Promise<T>): Promise<T> {
  return operation().catch((error: Error) => {
    throw new DownloadError(`${t.name} failed: cannot write ${t.options.file} (${error.message})`, true, { cause: error });
  });
}

function httpsUrl(text: string): URL {
  const url = URL.parse(text);
  if (!url) throw new DownloadError(`download of "${text.split('?')[0]}" refused: not a valid URL`, true);
  if (url.protocol !== 'https:') throw new DownloadError(`download of ${shown(url)} refused: only https:// URLs are allowed`, true);
  return url;
}

/** The URL for messages and logs: scheme, host and path, never the query (it may carry a token). */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** "bytes 100-199/1000", "bytes 100-199/*" or (on a 416) "bytes *\/1000". */
function contentRange(value: string | undefined): { start?: number; end?: number; total?: number } | undefined {
  const match = /^bytes (?:(\d{1,15})-(\d{1,15})|\*)\/(?:(\d{1,15})|\*)$/.exec(value?.trim() ?? '');
  const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  return match ? { start: number(match[1]), end: number(match[2]), total: number(match[3]) } : undefined;
}

/**
 * "Equal jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): between half and all of
 * min(max, base * 2^failures), so gateways cut by one tower spread out, yet never retry in a tight loop.
 */
function retryDelay(failures: number, { baseMs, maxMs }: { baseMs: number; maxMs: number }): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function progressGate(report: DownloadOptions['onProgress']): Transfer['progress'] {
  let last = { at: -Infinity, bytes: -Infinity };
  return (received, total, final = false) => {
    const now = Date.now();
    if (!report || (!final && now - last.at < 1000 && received - last.bytes < 1024 * 1024)) return;
    last = { at: now, bytes: received };
    report(received, total);
  };
}
