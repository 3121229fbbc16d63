/** Rank agreement of two paired samples. */
import { quantile } from './quantile.js';

/** Kendall's tau-b: (concordant - discordant) pairs over the pairs not tied in both, corrected for ties in either. */
export function kendallTauB(a: readonly number[], b: readonly number[]): number {
  let concordant = 0;
  let discordant = 0;
  let tiesA = 0;
  let tiesB = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const da = Math.sign(a[i]! - a[j]!);
      const db = Math.sign(b[i]! - b[j]!);
      if (da === 0 && db === 0) continue;
      if (da === 0) tiesA++;
      else if (db === 0) tiesB++;
      else if (da === db) concordant++;
      else discordant++;
    }
  }
  const denominator = Math.sqrt((concordant + discordant + tiesA) * (concordant + discordant + tiesB));
  return denominator === 0 ? 0 : (concordant - discordant) / denominator;
}

/**
 * Kendall's tau-a: (concordant - discordant) pairs over all pairs, ties counting as neither (latency
 * validation's measure, kept as it was recorded; 1 for fewer than two points).
 */
export function kendallTauA(a: readonly number[], b: readonly number[]): number {
  let concordant = 0;
  let discordant = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const s = Math.sign(a[i]! - a[j]!) * Math.sign(b[i]! - b[j]!);
      if (s > 0) concordant++;
      else if (s < 0) discordant++;
    }
  }
  const pairs = (a.length * (a.length - 1)) / 2;
  return pairs ? (concordant - discordant) / pairs : 1;
}

/** Each value's rank from 1 (the smallest) to n; tied values share the mean of the ranks they span. */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]!.value === order[start]!.value) end++;
    // Positions start..end-1 hold one value: ranks start+1..end, whose mean is (start + 1 + end) / 2.
    for (let k = start; k < end; k++) ranks[order[k]!.index] = (start + 1 + end) / 2;
    start = end;
  }
  return ranks;
}

/**
 * A percentile bootstrap interval of Kendall's tau-b: `resamples` draws of n pairs with replacement
 * from `rng`, and the tau values at the (1 - level) / 2 and (1 + level) / 2 quantiles. With 20 or 40
 * pairs one tau is a rough number; the interval says how rough.
 */
export function tauBootstrapInterval(
  a: readonly number[],
  b: readonly number[],
  rng: () => number,
  { resamples = 2000, level = 0.9 } = {},
): [number, number] {
  const taus = Array.from({ length: resamples }, () => {
    const drawn = a.map(() => Math.floor(rng() * a.length));
    return kendallTauB(
      drawn.map((i) => a[i]!),
      drawn.map((i) => b[i]!),
    );
  }).sort((x, y) => x - y);
  return [quantile(taus, (1 - level) / 2), quantile(taus, (1 + level) / 2)];
}
