// Checked before params reach a validator: zod names an unexpected key in its message
// ("Unrecognized key: ..."), so a 128 KB key became a 128 KB reply, cached and logged. The decoders
// already refuse JSON nested deeper than INCOMING_JSON_BOUNDS; the depth here guards the
// dispatcher's other callers and keeps the walk itself from recursing without end.
import { echoUntrusted } from '../untrusted-text.ts';

export interface ParamBounds {
  maxKeyChars: number;
  maxDepth: number;
}

/** Why the params cannot be validated (a key too long, nesting too deep), or undefined when they can. */
export function paramBoundsViolation(params: unknown, bounds: ParamBounds): string | undefined {
  const stack: { value: unknown; depth: number; path: string }[] = [{ value: params, depth: 1, path: 'params' }];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > bounds.maxDepth) return `${echoUntrusted(path, 200)}: nested more than ${bounds.maxDepth} levels deep`;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push({ value: value[i], depth: depth + 1, path: `${path}.${i}` });
      continue;
    }
    for (const [key, child] of Object.entries(value)) {
      if (key.length > bounds.maxKeyChars) return `${echoUntrusted(path, 200)}: the key "${echoUntrusted(key)}" is longer than ${bounds.maxKeyChars} characters`;
      stack.push({ value: child, depth: depth + 1, path: `${path}.${key}` });
    }
  }
  return undefined;
}
