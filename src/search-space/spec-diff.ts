/**
 * Where two specs differ as networks (name and provenance aside): the JSON paths of the differing
 * values with both values, in document order, for messages such as `input.resolution: 224 vs 32`.
 */
import { jsonPath } from '../common/errors.js';
import type { ArchSpec } from './archspec.js';
import { architectureOf } from './spec-hash.js';

export interface SpecDifference {
  /** e.g. `input.resolution`, `blocks[3].exp`, `blocks.length`. */
  path: string;
  a: unknown;
  b: unknown;
}

export function specDifferences(a: ArchSpec, b: ArchSpec): SpecDifference[] {
  const found: SpecDifference[] = [];
  collect(architectureOf(a), architectureOf(b), [], found);
  return found;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function collect(a: unknown, b: unknown, at: (string | number)[], found: SpecDifference[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) found.push({ path: pathText([...at, 'length']), a: a.length, b: b.length });
    for (let i = 0; i < Math.min(a.length, b.length); i++) collect(a[i], b[i], [...at, i], found);
  } else if (isRecord(a) && isRecord(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) collect(a[key], b[key], [...at, key], found);
  } else if (!Object.is(a, b)) {
    found.push({ path: pathText(at), a, b });
  }
}

function pathText(at: readonly (string | number)[]): string {
  return jsonPath(at).replace(/^\$\.?/, '');
}

const VALUE_CHARS = 40;

function valueText(value: unknown): string {
  if (value === undefined) return 'absent';
  const text = JSON.stringify(value);
  return text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS - 3)}...` : text;
}

/** `input.resolution: 224 vs 32; classes: 1000 vs 10`, the first `limit` of them and how many more. */
export function formatDifferences(differences: readonly SpecDifference[], limit = 4): string {
  const shown = differences.slice(0, limit).map((d) => `${d.path}: ${valueText(d.a)} vs ${valueText(d.b)}`);
  const more = differences.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
}
