// Maps JSON paths and offsets to line and column in the file the technician edits.
// A broken file can have tens of thousands of problems (one mistake in every sensor), so each lookup
// must cost about the same whatever the file's size: the line starts are found once and searched by
// bisection, and an object's keys are indexed the first time a path goes through it. Scanning from
// the top of the file for every problem made check-config quadratic (22 s for 20,000 problems).
import type { Node } from 'jsonc-parser';

export type JsonPath = (string | number)[];

export interface Location {
  line: number;
  column: number;
}

/** Objects this small are searched directly: cheaper than building a map for each of 20,000 sensors. */
const SCAN_LIMIT = 16;

export class Locator {
  /** Offset of the first character of each line (only "\n" ends a line, as in the editors' count). */
  readonly #lineStarts: number[];
  /** Property name → value node, per object node, built on first use. */
  readonly #keys = new WeakMap<Node, Map<string, Node>>();

  constructor(text: string) {
    this.#lineStarts = [0];
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.#lineStarts.push(i + 1);
  }

  /** Line and column (both from 1) of a character offset. */
  at(offset: number): Location {
    const starts = this.#lineStarts;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - starts[low]! + 1 };
  }

  /**
   * Where the node at a path is, in the tree parsed from this text; or its nearest existing
   * ancestor (a missing field is reported where it should have been: at the object that lacks it).
   * `key` asks for the property name instead of its value (unknown keys are pointed at by name).
   */
  path(root: Node, path: JsonPath, key = false): Location {
    let node = root;
    for (let depth = 0; depth < path.length; depth++) {
      const child = this.#child(node, path[depth]!);
      if (!child) return this.at(node.offset);
      node = child;
    }
    const target = key && path.length > 0 && node.parent?.type === 'property' ? node.parent.children?.[0] : node;
    return this.at((target ?? node).offset);
  }

  #child(node: Node, part: string | number): Node | undefined {
    if (typeof part === 'number') return node.type === 'array' ? node.children?.[part] : undefined;
    if (node.type !== 'object') return undefined;
    // A duplicated key keeps its last value, as JSON.parse and getNodeValue do: that is the value
    // the schema checked, so its problems point there.
    const properties = node.children ?? [];
    if (properties.length <= SCAN_LIMIT) {
      for (let i = properties.length - 1; i >= 0; i--) {
        const [name, value] = properties[i]!.children ?? [];
        if (name && value && name.value === part) return value;
      }
      return undefined;
    }
    let keys = this.#keys.get(node);
    if (!keys) {
      keys = new Map();
      for (const property of properties) {
        const [name, value] = property.children ?? [];
        if (name && value) keys.set(String(name.value), value);
      }
      this.#keys.set(node, keys);
    }
    return keys.get(part);
  }
}

export function formatPath(path: JsonPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `["${part}"]`;
  }
  return out;
}
