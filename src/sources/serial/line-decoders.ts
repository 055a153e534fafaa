// Line decoders: text in, named raw values out. Pure functions; a bad line is an error value, never a throw.
import type { FieldValue } from '../reading.ts';

export type DecoderConfig =
  | { type: 'json' }
  | { type: 'csv'; columns: string[]; separator: string }
  | { type: 'kv'; separator: string }
  | { type: 'regex'; pattern: string };

export type Decoded = { ok: true; values: Record<string, FieldValue> } | { ok: false; reason: string };

export function createDecoder(config: DecoderConfig): (line: string) => Decoded {
  switch (config.type) {
    case 'json':
      return decodeJson;
    case 'csv':
      return (line) => decodeCsv(line, config.columns, config.separator);
    case 'kv':
      return (line) => decodeKv(line, config.separator);
    case 'regex': {
      const pattern = new RegExp(config.pattern);
      return (line) => decodeRegex(line, pattern);
    }
  }
}

function decodeJson(line: string): Decoded {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'expected a JSON object per line' };
  const values: Record<string, FieldValue> = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean' || value === null) values[key] = value;
  }
  return { ok: true, values };
}

function decodeCsv(line: string, columns: string[], separator: string): Decoded {
  const cells = line.replace(/\r$/, '').split(separator);
  if (cells.length !== columns.length) return { ok: false, reason: `expected ${columns.length} columns, found ${cells.length}` };
  const values: Record<string, FieldValue> = {};
  columns.forEach((column, i) => {
    if (column !== '' && column !== '_') values[column] = cells[i]!.trim();
  });
  return { ok: true, values };
}

/** `t=21.5 h=40` (pairs separated by white space, or commas / semicolons). */
function decodeKv(line: string, separator: string): Decoded {
  const values: Record<string, FieldValue> = {};
  for (const pair of line.trim().split(/[\s,;]+/)) {
    if (pair === '') continue;
    const at = pair.indexOf(separator);
    if (at <= 0) return { ok: false, reason: `"${pair.slice(0, 40)}" is not key${separator}value` };
    values[pair.slice(0, at)] = pair.slice(at + separator.length);
  }
  return Object.keys(values).length > 0 ? { ok: true, values } : { ok: false, reason: 'empty line' };
}

function decodeRegex(line: string, pattern: RegExp): Decoded {
  const match = pattern.exec(line);
  if (!match?.groups) return { ok: false, reason: 'does not match the pattern' };
  const values: Record<string, FieldValue> = {};
  for (const [key, value] of Object.entries(match.groups)) if (value !== undefined) values[key] = value;
  return { ok: true, values };
}

export interface FieldConfig {
  type: 'number' | 'integer' | 'string' | 'boolean';
  scale?: number;
  offset?: number;
  unit?: string;
  /** The decoded name to read, when it differs from the field name. */
  from?: string;
}

/**
 * Applies per-field types and scaling. Without a field list every decoded value passes, numbers
 * recognized; with one, only the listed fields are kept. A listed value that is not of its type fails the line.
 */
export function applyFields(decoded: Record<string, FieldValue>, fields: Record<string, FieldConfig> | undefined): Decoded {
  if (!fields) {
    const values: Record<string, FieldValue> = {};
    for (const [key, value] of Object.entries(decoded)) values[key] = typeof value === 'string' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value.trim()) ? Number(value) : value;
    return { ok: true, values };
  }
  const values: Record<string, FieldValue> = {};
  for (const [name, field] of Object.entries(fields)) {
    const raw = decoded[field.from ?? name];
    if (raw === undefined || raw === null || raw === '') continue;
    if (field.type === 'string') {
      values[name] = String(raw);
    } else if (field.type === 'boolean') {
      const text = String(raw).toLowerCase();
      if (!['true', 'false', '1', '0', 'on', 'off'].includes(text)) return { ok: false, reason: `${name}: expected a boolean, found "${String(raw).slice(0, 20)}"` };
      values[name] = text === 'true' || text === '1' || text === 'on';
    } else {
      const number = typeof raw === 'number' ? raw : Number(String(raw).trim());
      if (!Number.isFinite(number) || (typeof raw === 'string' && raw.trim() === '')) return { ok: false, reason: `${name}: expected a number, found "${String(raw).slice(0, 20)}"` };
      const scaled = number * (field.scale ?? 1) + (field.offset ?? 0);
      values[name] = field.type === 'integer' ? Math.round(scaled) : scaled;
    }
  }
  return { ok: true, values };
}
