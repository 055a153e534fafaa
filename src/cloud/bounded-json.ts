// JSON from the network, parsed only when it is small and shallow enough. JSON.parse itself copes
// with anything, but what comes after does not: a 2 MB payload is 2 MB of strings on a 128 MB heap
// for as long as a command holds it, and validators, error messages and JSON.stringify of a reply
// recurse into nesting (a few thousand levels overflow the stack). So size is checked on the raw
// bytes and depth by a linear scan, both before anything is allocated for the parse.

export interface JsonBounds {
  /** Largest payload parsed, in bytes. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays; the top-level value is depth 1. */
  maxDepth: number;
}

/**
 * For commands, config pushes and twin documents: an agent config (config.set) is a few KB, the
 * clouds cap a message at 128 KB (Waylay) to 256 KB (Azure, Alibaba, Xyte), and no config or
 * command needs more than a handful of levels.
 */
export const INCOMING_JSON_BOUNDS: JsonBounds = { maxBytes: 256 * 1024, maxDepth: 32 };

/** Largest incoming message the session lets through to anyone (and MQTT 5 brokers are told): the same bound. */
export const MAX_INCOMING_BYTES = INCOMING_JSON_BOUNDS.maxBytes;

/** `syntax`: not JSON at all (callers keep their own words for that); `size` and `depth`: refused unread. */
export type BoundedJson = { ok: true; value: unknown } | { ok: false; problem: 'size' | 'depth' | 'syntax'; reason: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Parses `payload` as UTF-8 JSON, or says why not (too large, too deep, not JSON) without echoing it. */
export function parseBoundedJson(payload: Buffer, bounds: JsonBounds = INCOMING_JSON_BOUNDS): BoundedJson {
  if (payload.length > bounds.maxBytes) return { ok: false, problem: 'size', reason: `the message is ${payload.length} bytes, more than the ${bounds.maxBytes} bytes accepted` };
  if (nestingExceeds(payload, bounds.maxDepth)) return { ok: false, problem: 'depth', reason: `the JSON is nested more than ${bounds.maxDepth} levels deep` };
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) };
  } catch {
    return { ok: false, problem: 'syntax', reason: 'the message is not valid JSON' };
  }
}

/**
 * Counts brackets outside strings. Scanning bytes is safe for UTF-8: every byte of a multi-byte
 * character is >= 0x80, so none of them reads as a quote, backslash or bracket. Unbalanced or
 * otherwise invalid JSON is left for JSON.parse to refuse.
 */
export function nestingExceeds(payload: Buffer, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < payload.length; i++) {
    const byte = payload[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth--;
  }
  return false;
}
