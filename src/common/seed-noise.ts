/** How far one model's result moves between training seeds, estimated from models trained at two seeds. */

/** A normal distribution's median absolute value, in standard deviations. */
const NORMAL_MEDIAN_ABS = 0.6745;

/**
 * The per-seed standard deviation of a result, from pairs (one model's result at two seeds each):
 * a pair's difference has standard deviation sigma * sqrt(2), and the median of its absolute value
 * is 0.6745 of that. The median keeps one diverged training from setting the estimate. NaN without pairs.
 */
export function seedStandardDeviation(pairs: readonly (readonly [number, number])[]): number {
  if (pairs.length === 0) return Number.NaN;
  const gaps = pairs.map(([a, b]) => Math.abs(a - b)).sort((x, y) => x - y);
  const middle = gaps.length >> 1;
  const median = gaps.length % 2 ? gaps[middle]! : (gaps[middle - 1]! + gaps[middle]!) / 2;
  return median / (NORMAL_MEDIAN_ABS * Math.SQRT2);
}

/** The standard error of the difference of two means of n1 and n2 seeds, each seed's result with standard deviation sd. */
export function differenceStandardError(sd: number, n1: number, n2: number): number {
  return sd * Math.sqrt(1 / n1 + 1 / n2);
}
