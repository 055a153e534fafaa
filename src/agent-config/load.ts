// Reads agent.config.json (comments allowed), validates it and reports every problem at once,
// each with its JSON path, line and column, what was expected and what was found. Validation is
// pure; the secrets the config names ({"file"}, {"env"}) are read, and the TLS files it names are
// checked, in one step after it (src/config/resolve-secrets.ts, file-checks.ts). Linear in the size
// of the file and the number of problems: check-config, config.set and cloud pushes all run this on
// the event loop, where a slow check would starve the watchdog.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import type { z } from 'zod';
import { closest } from '../config/did-you-mean.ts';
import { fileSizeProblem, objectNestingProblem, sizeProblem, textNestingProblem } from '../config/input-limits.ts';
import { formatPath, Locator, type JsonPath } from '../config/locate.ts';
import { resolveSecrets } from '../config/resolve-secrets.ts';
import { knownKeysAt } from '../config/shape.ts';
import { ConfigError, MAX_LISTED_PROBLEMS, type ConfigProblem } from '../errors.ts';
import { configFileProblems } from './file-checks.ts';
import { configSchema, type AgentConfig } from './schema.ts';

/** Values under these keys are never echoed back in an error: they are secrets. */
const SECRET_FIELD = /(password|secret|key|token|signature|connectionString)$/i;

export interface LoadedConfig {
  config: AgentConfig;
  file: string;
  /** The raw parsed JSON (comments dropped), for config.get and config.set. */
  raw: unknown;
}

export function loadConfigFile(file: string): LoadedConfig {
  let text: string;
  try {
    // The size is checked on the open file before reading: a wrong --config (a log, an image) must
    // not be read whole into a gateway's memory just to be refused.
    const fd = openSync(file, 'r');
    try {
      const tooLarge = fileSizeProblem(fstatSync(fd).size);
      if (tooLarge) throw new ConfigError(file, [tooLarge]);
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EACCES' ? 'permission denied' : String(code ?? err);
    throw new ConfigError(file, [{ path: '', message: `cannot read the config file: ${why}` }]);
  }
  return { ...parseConfigText(text, file), file };
}

/** Validates a config's text, reads its secrets and checks the files it names: what the agent runs with. */
export function parseConfigText(text: string, file = 'agent.config.json'): { config: AgentConfig; raw: unknown } {
  const checked = checkConfigText(text, file);
  const { config, problems } = resolveSecrets(checked.config);
  problems.push(...configFileProblems(config));
  if (problems.length > 0) {
    const located = problems.map(({ path, message }) => ({ path: formatPath(path), ...checked.locator.path(checked.tree, path), message }));
    throw new ConfigError(file, sortByPosition(located));
  }
  return { config, raw: checked.raw };
}

/** Validates a config object that did not come from a file (config.set, cloud config pushes), and reads its secrets. */
export function validateConfigObject(raw: unknown, source: string): AgentConfig {
  return parseConfigText(objectText(raw, source), source).config;
}

/**
 * Validates a config object without reading any secret: each {"file"} and {"env"} secret stays a
 * reference whose reveal() throws. For redaction, which must not depend on the gateway's files.
 */
export function checkConfigObject(raw: unknown, source: string): AgentConfig {
  return checkConfigText(objectText(raw, source), source).config;
}

function objectText(raw: unknown, source: string): string {
  // JSON.stringify recurses too: a pushed object is checked for depth before it is turned into text.
  const tooDeep = objectNestingProblem(raw);
  if (tooDeep) throw new ConfigError(source, [tooDeep]);
  return JSON.stringify(raw, null, 2);
}

/** Pure: syntax, limits and the schema. Secrets are left as references, read by resolveSecrets. */
function checkConfigText(text: string, file: string): { config: AgentConfig; raw: unknown; tree: Node; locator: Locator } {
  const tooLarge = sizeProblem(text);
  if (tooLarge) throw new ConfigError(file, [tooLarge]);
  // Before parseTree: the parser, getNodeValue, duplicateKeys and zod all recurse per level.
  const locator = new Locator(text);
  const tooDeep = textNestingProblem(text, locator);
  if (tooDeep) throw new ConfigError(file, [tooDeep]);
  const syntax: ParseError[] = [];
  const tree = parseTree(text, syntax, { allowTrailingComma: true, disallowComments: false });
  if (syntax.length > 0) {
    // The parser reports in file order, so the first ones are the ones listed.
    const listed = syntax.slice(0, MAX_LISTED_PROBLEMS).map((e) => ({ path: '', ...locator.at(e.offset), message: `JSON syntax error: ${describeSyntaxError(e)}` }));
    throw new ConfigError(file, listed, syntax.length);
  }
  if (!tree || tree.type !== 'object') throw new ConfigError(file, [{ path: '', line: 1, column: 1, message: 'expected a JSON object { ... } at the top of the file' }]);
  const problems: ConfigProblem[] = [];
  duplicateKeys(tree, locator, [], problems);
  const raw: unknown = getNodeValue(tree);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    // A loop, not push(...): one issue can carry 100,000 unknown keys, too many arguments for a call.
    for (const issue of result.error.issues) for (const problem of toProblems(issue, raw, tree, locator)) problems.push(problem);
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(file, sortByPosition(problems));
  return { config: result.data, raw, tree, locator };
}

function describeSyntaxError(error: ParseError): string {
  const names: Record<string, string> = {
    InvalidSymbol: 'unexpected character',
    InvalidNumberFormat: 'invalid number',
    PropertyNameExpected: 'expected a property name in double quotes',
    ValueExpected: 'expected a value',
    ColonExpected: 'expected ":" after the property name',
    CommaExpected: 'expected "," between entries (or a missing closing bracket)',
    CloseBraceExpected: 'expected "}" to close the object',
    CloseBracketExpected: 'expected "]" to close the array',
    EndOfFileExpected: 'unexpected text after the end of the configuration',
    InvalidCommentToken: 'invalid comment',
    UnexpectedEndOfComment: 'comment is not closed (missing "*/")',
    UnexpectedEndOfString: 'string is not closed (missing \'"\')',
    UnexpectedEndOfNumber: 'number is cut off',
    InvalidUnicode: 'invalid \\u escape',
    InvalidEscapeCharacter: 'invalid escape character',
    InvalidCharacter: 'invalid character in string (a raw line break or tab?)',
  };
  const code = printParseErrorCode(error.error);
  return names[code] ?? code;
}

/** Appends to `problems` (not returning arrays to spread: that copied every problem once per level). */
function duplicateKeys(node: Node, locator: Locator, path: JsonPath, problems: ConfigProblem[]): void {
  if (node.type === 'object') {
    const seen = new Set<string>();
    for (const property of node.children ?? []) {
      const [keyNode, valueNode] = property.children ?? [];
      if (!keyNode) continue;
      const key = String(keyNode.value);
      path.push(key);
      if (seen.has(key)) problems.push({ path: formatPath(path), ...locator.at(keyNode.offset), message: `"${key}" appears twice in the same object; only one may stay` });
      seen.add(key);
      if (valueNode) duplicateKeys(valueNode, locator, path, problems);
      path.pop();
    }
  } else if (node.type === 'array') {
    node.children?.forEach((child, index) => {
      path.push(index);
      duplicateKeys(child, locator, path, problems);
      path.pop();
    });
  }
}

function valueAt(raw: unknown, path: JsonPath): { present: boolean; value: unknown } {
  let value = raw;
  for (const part of path) {
    if (typeof value !== 'object' || value === null || !(part in value)) return { present: false, value: undefined };
    value = (value as Record<string | number, unknown>)[part];
  }
  return { present: true, value };
}

function describeFound(value: unknown, path: JsonPath): string {
  const key = String(path[path.length - 1] ?? '');
  if (SECRET_FIELD.test(key)) return Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
  if (Array.isArray(value)) return `an array`;
  if (value !== null && typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function listValues(values: readonly unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v));
  return shown.length > 8 ? `${shown.slice(0, 2).join(', ')} … ${shown[shown.length - 1]}` : shown.join(', ');
}

function toProblems(issue: z.core.$ZodIssue, raw: unknown, tree: Node, locator: Locator): ConfigProblem[] {
  const path = issue.path as JsonPath;
  const where = (p: JsonPath, key = false) => ({ path: formatPath(p), ...locator.path(tree, p, key) });
  const found = valueAt(raw, path);
  const foundText = found.present ? `found ${describeFound(found.value, path)}` : 'found nothing (this field is required)';
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(configSchema, raw, path);
      return issue.keys.map((key) => {
        const suggestion = closest(key, known);
        const hint = suggestion ? `; did you mean "${suggestion}"?` : known.length > 0 ? ` (allowed here: ${known.join(', ')})` : '';
        return { ...where([...path, key], true), message: `unknown key "${key}"${hint}` };
      });
    }
    case 'invalid_type': {
      if (issue.message.startsWith('expected')) return [{ ...where(path), message: `${issue.message}, ${foundText}` }];
      const expected = issue.expected === 'int' ? 'a whole number' : issue.expected === 'object' ? 'an object { ... }' : issue.expected === 'array' ? 'an array [ ... ]' : `a ${issue.expected}`;
      return [{ ...where(path), message: `expected ${expected}, ${foundText}` }];
    }
    case 'invalid_value':
      return [{ ...where(path), message: `expected ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${listValues(issue.values)}`}, ${foundText}` }];
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const what = issue.origin === 'string' ? `a text of ${issue.code === 'too_small' ? 'at least' : 'at most'} ${bound} characters` : issue.origin === 'array' ? `${issue.code === 'too_small' ? 'at least' : 'at most'} ${bound} entries` : `a number ${issue.code === 'too_small' ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<'} ${bound}`;
      return [{ ...where(path), message: `expected ${what}, ${foundText}` }];
    }
    case 'invalid_union': {
      // A discriminated union with an unknown discriminator: point at the discriminator itself.
      const discriminator = (issue as { discriminator?: string }).discriminator ?? (/"(provider|type)"/.exec(issue.message)?.[1]);
      if (discriminator && found.present && typeof found.value === 'object' && found.value !== null) {
        const inner = valueAt(raw, [...path, discriminator]);
        return [{ ...where([...path, discriminator]), message: `${issue.message}, ${inner.present ? `found ${describeFound(inner.value, [discriminator])}` : 'found nothing'}` }];
      }
      return [{ ...where(path), message: `${issue.message}, ${foundText}` }];
    }
    default: {
      const message = issue.message.startsWith('expected') ? issue.message : `expected ${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}`;
      return [{ ...where(path), message: /\bfound\b/.test(message) ? message : `${message}, ${foundText}` }];
    }
  }
}

function sortByPosition(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}
