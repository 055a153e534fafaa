// Maps JSON paths to line and column in the file the technician edits.
import { findNodeAtLocation, type Node } from 'jsonc-parser';

export type JsonPath = (string | number)[];

export interface Location {
  line: number;
  column: number;
}

export function lineColumn(text: string, offset: number): Location {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * The node at a path, or its nearest existing ancestor (a missing field is reported where it
 * should have been: at the object that lacks it). `key` asks for the property name instead of
 * its value (unknown keys are pointed at by name).
 */
export function locate(root: Node | undefined, text: string, path: JsonPath, key = false): Location | undefined {
  if (!root) return undefined;
  for (let depth = path.length; depth >= 0; depth--) {
    const node = findNodeAtLocation(root, path.slice(0, depth));
    if (!node) continue;
    const target = key && depth === path.length && node.parent?.type === 'property' ? node.parent.children?.[0] : node;
    return lineColumn(text, (target ?? node).offset);
  }
  return undefined;
}

export function formatPath(path: JsonPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `["${part}"]`;
  }
  return out;
}
