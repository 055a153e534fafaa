// The outbox's write-ahead journal: an append-only file of checksummed frames, one per commit.
// Why not SQLite's own WAL: a WAL commit writes whole database pages (4 KB frames plus a header, so
// two file-system pages per commit) and the checkpoint writes them again; a journal frame is the
// commit's bytes and nothing else, so a commit of ten readings dirties one 4 KB page of the card.
// Readings reach SQLite only when the journal is full (in one large transaction, or never if the
// cloud acknowledged them first): see sqlite-outbox.ts.
//
// Layout: frames of [u32 payload length][u32 CRC-32 of the payload][payload, UTF-8 JSON]. A frame
// that fits in one 4 KB page never straddles two: it starts on the next page instead (the skipped
// bytes are never written and read as zeros: "length 0, continue at the next page"). The first frame is the header,
// {"g":<generation>}; the SQLite side records the generation it has applied, so a journal whose
// contents already reached SQLite (a crash between the two steps) is not applied twice.
import { closeSync, constants, fdatasyncSync, fstatSync, ftruncateSync, lstatSync, openSync, readSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { DataDirError } from '../errors.ts';

const PAGE = 4096;
const FRAME_HEADER = 8;
/** A journal is at most a few MB (its limit is set by the outbox); anything claiming more is damage. */
const MAX_FRAME = 64 * 1024 * 1024;

export interface JournalContents {
  generation: number;
  /** Payloads of the intact frames after the header, in order. */
  frames: string[];
  /** Bytes after the last intact frame that were not zeros: a torn last write, or damage. */
  discardedBytes: number;
}

export class OutboxJournal {
  readonly path: string;
  readonly #fd: number;
  readonly #sync: boolean;
  #size: number;
  #generation = 0;

  private constructor(path: string, fd: number, sync: boolean, size: number) {
    this.path = path;
    this.#fd = fd;
    this.#sync = sync;
    this.#size = size;
  }

  /** Opens (or creates, 0600) the journal and reads what it holds. Refuses links and non-files like the outbox file. */
  static open(path: string, sync: boolean): { journal: OutboxJournal; contents: JournalContents } {
    try {
      const stat = lstatSync(path);
      if (!stat.isFile()) throw new DataDirError(`refusing to open the outbox journal: ${path} is not a regular file${stat.isSymbolicLink() ? ' (a symbolic link)' : ''}; remove it`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      const contents = readFrames(fd);
      // A torn last frame is cut off, so the next frame is written where the intact ones end.
      if (fstatSync(fd).size > contents.validBytes) ftruncateSync(fd, contents.validBytes);
      const journal = new OutboxJournal(path, fd, sync, contents.validBytes);
      journal.#generation = contents.generation;
      return { journal, contents };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  get bytes(): number {
    return this.#size;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Appends one frame and makes it durable (fdatasync unless sync is "normal"). On failure the file is cut back to what it was, and the error thrown. */
  append(payload: string): void {
    const frame = encodeFrame(payload);
    const offsetInPage = this.#size % PAGE;
    const pad = frame.length <= PAGE && offsetInPage + frame.length > PAGE ? PAGE - offsetInPage : 0;
    const at = this.#size + pad;
    try {
      // The skipped bytes are not written (that would dirty the old page again): the file reads them as zeros.
      writeAll(this.#fd, frame, at);
      if (this.#sync) fdatasyncSync(this.#fd);
    } catch (error) {
      try {
        ftruncateSync(this.#fd, this.#size);
      } catch {
        // The next open stops at the torn frame anyway (its checksum fails).
      }
      throw error;
    }
    this.#size = at + frame.length;
  }

  /** Empties the journal and starts the next generation (after its contents were applied to SQLite). */
  reset(generation: number): void {
    ftruncateSync(this.#fd, 0);
    this.#size = 0;
    this.#generation = generation;
    const header = encodeFrame(JSON.stringify({ g: generation }));
    writeAll(this.#fd, header, 0);
    if (this.#sync) fdatasyncSync(this.#fd);
    this.#size = header.length;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

function encodeFrame(payload: string): Buffer {
  const length = Buffer.byteLength(payload);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + length);
  frame.write(payload, FRAME_HEADER, 'utf8');
  frame.writeUInt32LE(length, 0);
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER)), 4);
  return frame;
}

function writeAll(fd: number, buffer: Buffer, position: number): void {
  let written = 0;
  while (written < buffer.length) written += writeSync(fd, buffer, written, buffer.length - written, position + written);
}

function readFrames(fd: number): JournalContents & { validBytes: number } {
  const size = fstatSync(fd).size;
  const data = Buffer.allocUnsafe(size);
  let read = 0;
  while (read < size) {
    const n = readSync(fd, data, read, size - read, read);
    if (n === 0) break;
    read += n;
  }
  const frames: string[] = [];
  let generation = 0;
  let offset = 0;
  let validBytes = 0;
  let first = true;
  while (offset + FRAME_HEADER <= read) {
    const length = data.readUInt32LE(offset);
    if (length === 0) {
      // Padding: the next frame starts on the next page.
      offset = (Math.floor(offset / PAGE) + 1) * PAGE;
      continue;
    }
    if (length > MAX_FRAME || offset + FRAME_HEADER + length > read) break;
    const payload = data.subarray(offset + FRAME_HEADER, offset + FRAME_HEADER + length);
    if (crc32(payload) !== data.readUInt32LE(offset + 4)) break;
    const text = payload.toString('utf8');
    if (first) {
      const header = safeParse(text) as { g?: unknown } | undefined;
      if (typeof header?.g !== 'number') break;
      generation = header.g;
      first = false;
    } else frames.push(text);
    offset += FRAME_HEADER + length;
    validBytes = offset;
  }
  let discardedBytes = 0;
  for (let i = validBytes; i < read; i++) if (data[i] !== 0) discardedBytes++;
  return { generation, frames, discardedBytes, validBytes };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
