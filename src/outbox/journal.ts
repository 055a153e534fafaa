// The outbox's write-ahead journal: an append-only file of checksummed frames, one per commit.
// Why not SQLite's own WAL: a WAL commit writes whole database pages (4 KB frames plus a header, so
// two file-system pages per commit) and the checkpoint writes them again; a journal frame is the
// commit's bytes and nothing else, so a commit of ten readings dirties one 4 KB page of the card.
// Readings reach SQLite only when the journal is full (in one large transaction, or never if the
// cloud acknowledged them first): see sqlite-outbox.ts.
//
// Layout: frames of [u32 payload length][u32 CRC-32 of the payload, seeded with the generation]
// [payload, UTF-8 JSON]. The first frame is the header, {"g":<generation>} (CRC seeded with 0).
// The file is written to its full size once per start (recreate) and then reused: emptying it
// means a new generation and a new header, not a truncation, so commits never allocate blocks or
// change the file's size, and fdatasync has only the frame's page to write (a growing file cost a
// third more in file-system metadata: measured with bench/flash-wear.ts). Frames of an older generation left further
// on fail the seeded checksum, so reading stops where the current generation ends. A frame that
// fits in one 4 KB page never straddles two: it starts on the next page instead, and a reader that
// finds no valid frame mid-page looks at the next page boundary once before concluding the end.
// The SQLite side records the generation it has applied, so a journal whose contents already
// reached SQLite (a crash between the two steps) is not applied twice.
import { closeSync, constants, fdatasyncSync, fstatSync, lstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDirectory } from '../config/write.ts';
import { DataDirError } from '../errors.ts';

const PAGE = 4096;
const FRAME_HEADER = 8;
/** A frame claiming more than the journal can hold is damage. */
const MAX_FRAME = 16 * 1024 * 1024;

export interface JournalContents {
  generation: number;
  /** Payloads of the intact frames of the current generation after the header, in order. */
  frames: string[];
}

export class OutboxJournal {
  readonly path: string;
  readonly #fd: number;
  readonly #sync: boolean;
  /** Where the next frame goes (the end of the current generation's frames). */
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
    refuseNonFile(path);
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      const contents = readFrames(fd);
      const journal = new OutboxJournal(path, fd, sync, contents.validBytes);
      journal.#generation = contents.generation;
      return { journal, contents: { generation: contents.generation, frames: contents.frames } };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /**
   * Replaces the journal by a fresh file of `size` bytes that starts `generation` (after what the old
   * one held was applied to SQLite). Written page by page, once per start: reading the old file at
   * open filled the page cache with large folios (Linux 6.x), and a commit into one of those dirties
   * all of it (measured: 1 MB written per commit instead of 4 KB). Small writes make small pages.
   * Returns undefined (the old file stays in use: correct, only wearing more) when the disk has no room.
   */
  recreate(generation: number, size: number): OutboxJournal | undefined {
    const temp = `${this.path}.new`;
    let fd: number | undefined;
    try {
      rmSync(temp, { force: true });
      fd = openSync(temp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      const page = Buffer.alloc(PAGE);
      for (let at = 0; at < size; at += PAGE) writeAll(fd, page, at);
      const fresh = new OutboxJournal(this.path, fd, this.#sync, 0);
      fresh.reset(generation);
      if (!this.#sync) fdatasyncSync(fd);
      renameSync(temp, this.path);
      fsyncDirectory(dirname(this.path));
      this.close();
      return fresh;
    } catch {
      if (fd !== undefined) closeSync(fd);
      rmSync(temp, { force: true });
      return undefined;
    }
  }

  /** Bytes the current generation occupies. */
  get bytes(): number {
    return this.#size;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Appends one frame and makes it durable (fdatasync unless sync is "normal"); throws what the file system said. */
  append(payload: string): void {
    const frame = encodeFrame(payload, this.#generation);
    const offsetInPage = this.#size % PAGE;
    // Skipped bytes are not written (that would dirty the previous page again).
    const at = frame.length <= PAGE && offsetInPage + frame.length > PAGE ? this.#size + PAGE - offsetInPage : this.#size;
    writeAll(this.#fd, frame, at);
    if (this.#sync) fdatasyncSync(this.#fd);
    // Only now: a frame whose write failed is overwritten by the next one (or fails its checksum).
    this.#size = at + frame.length;
  }

  /** Starts the next generation (after the journal's contents were applied to SQLite): the older frames no longer count. */
  reset(generation: number): void {
    const header = encodeFrame(JSON.stringify({ g: generation }), 0);
    writeAll(this.#fd, header, 0);
    if (this.#sync) fdatasyncSync(this.#fd);
    this.#generation = generation;
    this.#size = header.length;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

function refuseNonFile(path: string): void {
  try {
    const stat = lstatSync(path);
    if (!stat.isFile()) throw new DataDirError(`refusing to open the outbox journal: ${path} is not a regular file${stat.isSymbolicLink() ? ' (a symbolic link)' : ''}; remove it`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function encodeFrame(payload: string, seed: number): Buffer {
  const length = Buffer.byteLength(payload);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + length);
  frame.write(payload, FRAME_HEADER, 'utf8');
  frame.writeUInt32LE(length, 0);
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER), seed >>> 0), 4);
  return frame;
}

function writeAll(fd: number, buffer: Buffer, position: number): void {
  let written = 0;
  while (written < buffer.length) written += writeSync(fd, buffer, written, buffer.length - written, position + written);
}

/** The journal is at most 1 MB (journalLimit); a bigger file is damage or tampering, and only its start can hold frames worth reading. */
const MAX_READ = 16 * 1024 * 1024;

function readFrames(fd: number): { generation: number; frames: string[]; validBytes: number } {
  const size = Math.min(fstatSync(fd).size, MAX_READ);
  const data = Buffer.allocUnsafe(size);
  let read = 0;
  while (read < size) {
    const n = readSync(fd, data, read, size - read, read);
    if (n === 0) break;
    read += n;
  }
  const frameAt = (offset: number, seed: number): string | undefined => {
    if (offset + FRAME_HEADER > read) return undefined;
    const length = data.readUInt32LE(offset);
    if (length === 0 || length > MAX_FRAME || offset + FRAME_HEADER + length > read) return undefined;
    // A frame that fits in a page is never written across two.
    if (length + FRAME_HEADER <= PAGE && (offset % PAGE) + FRAME_HEADER + length > PAGE) return undefined;
    const payload = data.subarray(offset + FRAME_HEADER, offset + FRAME_HEADER + length);
    return crc32(payload, seed >>> 0) === data.readUInt32LE(offset + 4) ? payload.toString('utf8') : undefined;
  };
  const headerText = frameAt(0, 0);
  const header = headerText === undefined ? undefined : (safeParse(headerText) as { g?: unknown } | undefined);
  if (typeof header?.g !== 'number' || headerText === undefined) return { generation: 0, frames: [], validBytes: 0 };
  const generation = header.g;
  const frames: string[] = [];
  let offset = FRAME_HEADER + Buffer.byteLength(headerText);
  for (;;) {
    let text = frameAt(offset, generation);
    if (text === undefined && offset % PAGE !== 0) {
      // The writer skips to the next page when a frame does not fit in what is left of this one.
      const next = offset + PAGE - (offset % PAGE);
      text = frameAt(next, generation);
      if (text !== undefined) offset = next;
    }
    if (text === undefined) break;
    frames.push(text);
    offset += FRAME_HEADER + Buffer.byteLength(text);
  }
  return { generation, frames, validBytes: offset };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
