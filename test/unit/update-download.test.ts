// The self-update download against a real local HTTPS server: cuts mid-body resumed with Range and
// If-Range, servers that ignore ranges or change the file, refusals that must not be retried.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { download, DownloadError, removeDownload, type DownloadOptions } from '../../src/update/download.ts';
import { startUpdateServer, type UpdateServer } from '../helpers/update-server.ts';

const MB = 1024 * 1024;
const BODY = randomBytes(3 * MB);

/** The ETag the download recorded in its sidecar. */
const recordedEtag = (file: string): string => JSON.parse(readFileSync(`${file}.meta`, 'utf8')).etag;

describe('update download', () => {
  let server: UpdateServer;
  let dir: string;
  let files = 0;
  before(async () => {
    server = await startUpdateServer();
    server.serve('/edge-agent', BODY);
    dir = mkdtempSync(join(tmpdir(), 'edge-agent-download-'));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Options for a fresh partial file; backoff waits are recorded, never slept. */
  function setup(path: string, extra: Partial<DownloadOptions> = {}) {
    const delays: number[] = [];
    const options: DownloadOptions = {
      url: server.url(path),
      file: join(dir, `download-${++files}`),
      maxBytes: 10 * MB,
      ca: server.ca,
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
      ...extra,
    };
    const seen = () => server.requests.filter((r) => r.path === path);
    return { options, delays, seen };
  }

  const permanentError = (pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof DownloadError, `expected a DownloadError, got ${String(error)}`);
    assert.equal(error.permanent, true);
    assert.match(error.message, pattern);
    return true;
  };

  it('downloads a file in one go and reports progress per MB or second, not per chunk', async () => {
    const progress: [number, number | undefined][] = [];
    const { options } = setup('/edge-agent', { onProgress: (received, total) => progress.push([received, total]) });
    const result = await download(options);
    assert.deepEqual(result, { bytes: BODY.length, attempts: 1, resumedAt: [] });
    assert.ok(readFileSync(options.file).equals(BODY));
    assert.deepEqual(progress.at(-1), [BODY.length, BODY.length]);
    assert.ok(progress.length <= 6, `${progress.length} progress reports for 3 MB`);
    const sidecar = JSON.parse(readFileSync(`${options.file}.meta`, 'utf8'));
    assert.equal(sidecar.url, options.url);
    assert.match(sidecar.etag, /^"[0-9a-f]+"$/);
    await removeDownload(options.file);
    assert.equal(existsSync(options.file) || existsSync(`${options.file}.meta`), false);
  });

  it('resumes two cuts mid-file with Range and If-Range, and ends with identical bytes', async () => {
    server.serve('/cut-twice', BODY);
    server.cutAfter('/cut-twice', [1 * MB, 2 * MB + 12_345]);
    const retries: { offset: number; reason: string }[] = [];
    const { options, delays, seen } = setup('/cut-twice', { onRetry: ({ offset, reason }) => retries.push({ offset, reason }) });
    const result = await download(options);
    assert.ok(readFileSync(options.file).equals(BODY));
    assert.equal(result.attempts, 3);
    // Resumed at or just before each cut: bytes Node had buffered but not yet handed over die with the connection.
    const [first, second] = result.resumedAt;
    assert.ok(first! > 0 && first! <= 1 * MB && second! > 1 * MB && second! <= 2 * MB + 12_345, `resumed at ${result.resumedAt.join(', ')}`);
    const etag = recordedEtag(options.file);
    assert.deepEqual(
      seen().map((r) => [r.range, r.ifRange, r.status]),
      [[undefined, undefined, 200], [`bytes=${first}-`, etag, 206], [`bytes=${second}-`, etag, 206]],
    );
    assert.deepEqual(retries.map((r) => r.offset), [first, second]);
    assert.match(retries[0]!.reason, /^connection cut after \d+ bytes of this response/);
    assert.equal(delays.length, 2);
  });

  it('treats a link that goes silent for idleTimeoutMs as a cut and resumes', async () => {
    server.serve('/silent', BODY);
    server.stallAfter('/silent', [1 * MB]);
    const reasons: string[] = [];
    const { options } = setup('/silent', { idleTimeoutMs: 200, onRetry: ({ reason }) => reasons.push(reason) });
    const result = await download(options);
    assert.ok(readFileSync(options.file).equals(BODY));
    assert.equal(result.resumedAt.length, 1);
    assert.match(reasons[0]!, /no byte for 0\.2 s/);
  });

  it('resumes a partial file left by an earlier run, with If-Range', async () => {
    server.serve('/second-run', BODY);
    server.cutAfter('/second-run', [1 * MB]);
    const stop = new AbortController();
    const { options, seen } = setup('/second-run', { signal: stop.signal, onRetry: () => stop.abort(new Error('agent stopping')) });
    await assert.rejects(download(options), /agent stopping/);
    const had = statSync(options.file).size;
    assert.ok(had > 0 && had <= 1 * MB);

    const result = await download({ ...options, signal: undefined, onRetry: undefined });
    assert.deepEqual(result, { bytes: BODY.length, attempts: 1, resumedAt: [had] });
    const last = seen().at(-1)!;
    assert.deepEqual([last.range, last.status], [`bytes=${had}-`, 206]);
    assert.equal(last.ifRange, recordedEtag(options.file));
    assert.ok(readFileSync(options.file).equals(BODY));
  });

  it('starts over when the file changed on the server between attempts (ETag differs, 200)', async () => {
    const changed = randomBytes(2 * MB);
    server.serve('/changing', BODY);
    server.cutAfter('/changing', [1 * MB]);
    const { options, seen } = setup('/changing', { onRetry: () => server.serve('/changing', changed) });
    const result = await download(options);
    assert.ok(readFileSync(options.file).equals(changed));
    assert.deepEqual(result.resumedAt, []);
    assert.deepEqual(seen().map((r) => r.status), [200, 200]);
    assert.match(seen()[1]!.range ?? '', /^bytes=\d+-$/);
    // The resumed request named the first version; the sidecar now names the second.
    assert.ok(seen()[1]!.ifRange !== undefined && recordedEtag(options.file) !== seen()[1]!.ifRange);
  });

  it('is done at once when the partial file is already complete (416 at its size)', async () => {
    const { options, seen } = setup('/edge-agent');
    await download(options);
    const result = await download(options);
    assert.deepEqual(result, { bytes: BODY.length, attempts: 1, resumedAt: [] });
    assert.deepEqual(seen().slice(-1).map((r) => [r.range, r.status]), [[`bytes=${BODY.length}-`, 416]]);
  });

  it('follows a redirect and refuses one to http://', async () => {
    server.redirect('/moved', '/edge-agent');
    const { options } = setup('/moved');
    assert.equal((await download(options)).bytes, BODY.length);
    server.redirect('/downgraded', `http://127.0.0.1:1/edge-agent?token=secret`);
    await assert.rejects(download(setup('/downgraded').options), permanentError(/redirected to http:\/\/127\.0\.0\.1:1\/edge-agent, which is not https$/));
  });

  it('refuses a 404 at once, naming host and path but not the query', async () => {
    const retries: unknown[] = [];
    const { options, seen } = setup('/missing', { onRetry: (info) => retries.push(info) });
    options.url += '?token=secret';
    await assert.rejects(download(options), permanentError(/^download of https:\/\/127\.0\.0\.1:\d+\/missing failed: HTTP 404 Not Found$/));
    assert.equal(seen().length, 1);
    assert.deepEqual(retries, []);
  });

  it('refuses a file larger than maxBytes before writing any of it', async () => {
    const { options } = setup('/edge-agent', { maxBytes: BODY.length - 1 });
    await assert.rejects(download(options), permanentError(new RegExp(`announces ${BODY.length} bytes, more than the ${BODY.length - 1} allowed`)));
    assert.equal(statSync(options.file).size, 0);
  });

  it('refuses a server whose certificate is not trusted', async () => {
    const { options, seen } = setup('/edge-agent', { ca: undefined });
    const before = seen().length;
    await assert.rejects(download(options), permanentError(/the certificate of 127\.0\.0\.1:\d+ is not trusted/));
    assert.equal(seen().length, before);
  });

  it('refuses an http:// URL before any network I/O', async () => {
    const count = server.requests.length;
    const { options } = setup('/edge-agent');
    options.url = options.url.replace('https:', 'http:');
    await assert.rejects(download(options), permanentError(/refused: only https:\/\/ URLs are allowed/));
    assert.equal(server.requests.length, count);
    assert.equal(existsSync(options.file), false);
  });

  it('gives up after maxAttemptsWithoutProgress attempts that brought nothing, backing off between them', async () => {
    server.serve('/dead', BODY);
    server.cutAfter('/dead', [0, 0, 0, 0]);
    const { options, delays, seen } = setup('/dead', { maxAttemptsWithoutProgress: 3, backoff: { baseMs: 100, maxMs: 1000 } });
    await assert.rejects(download(options), (error: unknown) => {
      assert.ok(error instanceof DownloadError && !error.permanent);
      assert.match(error.message, /gave up after 3 attempts in a row without a new byte/);
      return true;
    });
    assert.equal(seen().length, 3);
    assert.equal(delays.length, 2);
    assert.ok(delays[0]! >= 50 && delays[0]! <= 100 && delays[1]! >= 100 && delays[1]! <= 200, `delays ${delays.join(', ')}`);
  });

  it('stops at once on abort and keeps the partial file', async () => {
    const stop = new AbortController();
    const reason = new Error('update cancelled');
    const { options, seen } = setup('/edge-agent', { signal: stop.signal, onProgress: () => stop.abort(reason) });
    const before = seen().length;
    await assert.rejects(download(options), (error) => error === reason);
    const kept = statSync(options.file).size;
    assert.ok(kept > 0 && kept < BODY.length, `kept ${kept} bytes`);
    assert.ok(readFileSync(options.file).equals(BODY.subarray(0, kept)));
    assert.ok(existsSync(`${options.file}.meta`));
    assert.equal(seen().length, before + 1);
  });
});

describe('update download from a server that ignores Range', () => {
  let server: UpdateServer;
  let dir: string;
  before(async () => {
    server = await startUpdateServer({ ignoreRange: true });
    dir = mkdtempSync(join(tmpdir(), 'edge-agent-download-'));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts over on the 200 and ends with the right bytes', async () => {
    server.serve('/edge-agent', BODY);
    server.cutAfter('/edge-agent', [1 * MB]);
    const file = join(dir, 'download');
    const result = await download({ url: server.url('/edge-agent'), file, maxBytes: 10 * MB, ca: server.ca, sleep: () => Promise.resolve() });
    assert.ok(readFileSync(file).equals(BODY));
    assert.deepEqual(result, { bytes: BODY.length, attempts: 2, resumedAt: [] });
    assert.deepEqual(server.requests.map((r) => r.status), [200, 200]);
    assert.match(server.requests[1]!.range ?? '', /^bytes=\d+-$/);
  });
});
