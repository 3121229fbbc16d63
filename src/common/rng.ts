/**
 * Seeded randomness. Every random choice in the project goes through these generators, and
 * independent streams are derived from (seed, purpose, indices) so that resuming a run at any
 * epoch or step replays exactly the same numbers without storing generator state.
 */
import seedrandom from 'seedrandom';

export type Rng = () => number;

/** A generator for one purpose: `derive(7, 'shuffle', 3)` is the same stream on every call. */
export function derive(seed: number | string, ...path: (string | number)[]): Rng {
  return seedrandom([String(seed), ...path.map(String)].join('/'));
}

/** A 31-bit integer from a generator (for seeding tfjs ops). */
export function nextSeed(rng: Rng): number {
  return Math.floor(rng() * 2 ** 31);
}

/** In-place Fisher-Yates shuffle. */
export function shuffle<T>(items: T[] | Int32Array | Uint32Array, rng: Rng): typeof items {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}
