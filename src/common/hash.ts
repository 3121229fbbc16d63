/** Short content identities of JSON values (spec, experiment and recipe hashes). */
import { createHash } from 'node:crypto';

/** The first 16 hex digits of the sha256 of a value's JSON text: equal values (same key order), equal hashes. */
export function jsonHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
