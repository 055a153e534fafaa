// Walks the zod schema alongside the data to find which keys an object may have,
// so that an unknown key can be answered with "did you mean …".
import type { z } from 'zod';
import type { JsonPath } from './locate.ts';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  values?: unknown[];
}

const def = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

function unwrap(schema: z.ZodType, data: unknown): z.ZodType {
  for (;;) {
    const d = def(schema);
    if (d.innerType) schema = d.innerType;
    else if (d.type === 'pipe' && d.in) schema = d.in;
    else if (d.type === 'union' && d.options) {
      const chosen = chooseBranch(d, data);
      if (!chosen) return schema;
      schema = chosen;
    } else return schema;
  }
}

function chooseBranch(d: Def, data: unknown): z.ZodType | undefined {
  const objects = d.options!.filter((option) => def(unwrap(option, undefined)).type === 'object');
  if (d.discriminator && typeof data === 'object' && data !== null) {
    const wanted = (data as Record<string, unknown>)[d.discriminator];
    return objects.find((option) => def(def(unwrap(option, undefined)).shape![d.discriminator!]!).values?.includes(wanted));
  }
  return objects.length === 1 ? objects[0] : undefined;
}

/** The keys the schema allows for the object at `path` in `data`, or [] when unknown. */
export function knownKeysAt(schema: z.ZodType, data: unknown, path: JsonPath): string[] {
  let current = schema;
  let value = data;
  for (const part of path) {
    current = unwrap(current, value);
    const d = def(current);
    if (d.type === 'object' && d.shape && typeof part === 'string') current = d.shape[part]!;
    else if (d.type === 'array' && d.element && typeof part === 'number') current = d.element;
    else return [];
    if (!current) return [];
    value = (value as Record<string | number, unknown> | undefined)?.[part];
  }
  const d = def(unwrap(current, value));
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}
