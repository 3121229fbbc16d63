import { jsonHash } from '../common/hash.js';
import type { ArchSpec } from './archspec.js';

/** The architecture without metadata (name, provenance): what makes two specs the same network. */
export function architectureOf(spec: ArchSpec) {
  const { provenance: _p, name: _n, ...architecture } = spec;
  return architecture;
}

/** A stable hash of the architecture (16 hex digits): equal networks, equal hashes. */
export function specHash(spec: ArchSpec): string {
  return jsonHash(architectureOf(spec));
}
