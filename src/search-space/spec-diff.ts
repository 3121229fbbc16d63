/**
 * Where two specs differ as networks (name and provenance aside): the paths of the differing
 * values with both values, in document order, for messages such as `input.resolution: 224 vs 32`
 * (formatted with formatDifferences of common/json-diff.ts).
 */
import { type JsonDifference, jsonDifferences } from '../common/json-diff.js';
import type { ArchSpec } from './archspec.js';
import { architectureOf } from './spec-hash.js';

/** A difference whose path is written without the leading `$.`: `input.resolution`, `blocks[3].exp`, `blocks.length`. */
export type SpecDifference = JsonDifference;

export function specDifferences(a: ArchSpec, b: ArchSpec): SpecDifference[] {
  return jsonDifferences(architectureOf(a), architectureOf(b)).map((d) => ({ ...d, path: d.path.replace(/^\$\.?/, '') }));
}
