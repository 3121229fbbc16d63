/**
 * Where two JSON values differ: the JSON path of each differing leaf with both values, in document
 * order, and a short line naming the first few (`$.seed: 0 vs 5; $.algorithm: "reinforce" vs
 * "random"`), for messages that say why two records are not the same.
 */
import { jsonPath } from './errors.js';

export interface JsonDifference {
  /** e.g. `$.seed`, `$.blocks[3].exp`, `$.blocks.length`. */
  path: string;
  a: unknown;
  b: unknown;
}

/** The leaves where `a` and `b` differ; arrays of different lengths differ in `length` and in the items both have. */
export function jsonDifferences(a: unknown, b: unknown): JsonDifference[] {
  const found: JsonDifference[] = [];
  collect(a, b, [], found);
  return found;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function collect(a: unknown, b: unknown, at: (string | number)[], found: JsonDifference[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) found.push({ path: jsonPath([...at, 'length']), a: a.length, b: b.length });
    for (let i = 0; i < Math.min(a.length, b.length); i++) collect(a[i], b[i], [...at, i], found);
  } else if (isRecord(a) && isRecord(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) collect(a[key], b[key], [...at, key], found);
  } else if (!Object.is(a, b)) {
    found.push({ path: jsonPath(at), a, b });
  }
}

const VALUE_CHARS = 40;

/** A value as JSON, cut to VALUE_CHARS characters; `absent` where one side lacks the field. */
function valueText(value: unknown): string {
  if (value === undefined) return 'absent';
  const text = JSON.stringify(value);
  return text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS - 3)}...` : text;
}

/** `$.seed: 0 vs 5; $.algorithm: "reinforce" vs "random"`: the first `limit` differences, then how many more. */
export function formatDifferences(differences: readonly JsonDifference[], limit = 4): string {
  const shown = differences.slice(0, limit).map((d) => `${d.path}: ${valueText(d.a)} vs ${valueText(d.b)}`);
  const more = differences.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
}
