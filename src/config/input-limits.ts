// How big and how deep a config may be, checked before anything parses it. The JSONC parser, the
// schema validator and JSON.stringify all recurse once per level of nesting, so 100,000 "[" ended in
// "Maximum call stack size exceeded" (exit 70) instead of a config problem; and every step of a
// check is linear at best, so the size is bounded first.
import bytes from 'bytes';
import { createScanner, type SyntaxKind } from 'jsonc-parser';
import type { ConfigProblem } from '../errors.ts';
import { formatPath, type JsonPath, type Locator } from './locate.ts';

/** A gateway's config is a few KB; a file of megabytes is the wrong file, or a runaway generator. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** The deepest real config nests about 6 levels ({ sensors: [ { registers: [ { … }; far below what recursion survives. */
export const MAX_NESTING = 64;

export function sizeProblem(text: string): ConfigProblem | undefined {
  const size = Buffer.byteLength(text, 'utf8');
  return size > MAX_CONFIG_BYTES ? tooLarge(size) : undefined;
}

/** For a file, before it is read: its size on disk. */
export function fileSizeProblem(size: number): ConfigProblem | undefined {
  return size > MAX_CONFIG_BYTES ? tooLarge(size) : undefined;
}

function tooLarge(size: number): ConfigProblem {
  return { path: '', message: `expected a config of at most ${bytes(MAX_CONFIG_BYTES)}, found ${bytes(size)} (a gateway's config is a few KB: is this the right file?)` };
}

// jsonc-parser's SyntaxKind values: it is a const enum, which type stripping cannot read.
const OPEN_BRACE = 1 as SyntaxKind;
const CLOSE_BRACE = 2 as SyntaxKind;
const OPEN_BRACKET = 3 as SyntaxKind;
const CLOSE_BRACKET = 4 as SyntaxKind;
const EOF = 17 as SyntaxKind;

/**
 * Walks the tokens with the parser's own scanner (strings and comments are skipped exactly as the
 * parser skips them) and reports the first "{" or "[" that opens level MAX_NESTING + 1.
 *
 * A closer only closes an opener of its own kind. The parser never skips a closer that matches the
 * container it is in (its error recovery stops at it), and it recurses only on openers, so the depth
 * counted here is never less than the parser's: "[{"a":]]]]…" cannot hide nesting from this count.
 */
export function textNestingProblem(text: string, locator: Locator): ConfigProblem | undefined {
  const scanner = createScanner(text, true);
  const open: SyntaxKind[] = [];
  for (let token = scanner.scan(); token !== EOF; token = scanner.scan()) {
    if (token === OPEN_BRACE || token === OPEN_BRACKET) {
      open.push(token);
      if (open.length > MAX_NESTING) return { path: '', ...locator.at(scanner.getTokenOffset()), message: tooDeep() };
    } else if (token === CLOSE_BRACE && open.at(-1) === OPEN_BRACE) open.pop();
    else if (token === CLOSE_BRACKET && open.at(-1) === OPEN_BRACKET) open.pop();
  }
  return undefined;
}

/** For a config that arrives as an object (config.set, cloud pushes): checked before JSON.stringify recurses into it. */
export function objectNestingProblem(value: unknown): ConfigProblem | undefined {
  const path: JsonPath = [];
  // Recursion is safe here: it stops one level past MAX_NESTING.
  const visit = (node: unknown, depth: number): boolean => {
    if (typeof node !== 'object' || node === null) return false;
    if (depth > MAX_NESTING) return true;
    const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((item, index) => [index, item]) : Object.entries(node);
    for (const [key, child] of entries) {
      path.push(key);
      if (visit(child, depth + 1)) return true;
      path.pop();
    }
    return false;
  };
  return visit(value, 1) ? { path: formatPath(path), message: tooDeep() } : undefined;
}

function tooDeep(): string {
  return `expected at most ${MAX_NESTING} levels of nested { } and [ ], found deeper nesting here`;
}
