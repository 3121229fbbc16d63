import test from 'ava';
import { averageRanks, kendallTauA, kendallTauB, tauBootstrapInterval } from '../src/common/rank-correlation.js';
import { derive } from '../src/common/rng.js';

test("Kendall's tau-b: 1 for the same order, -1 for the reverse, and the tie-corrected value with ties", (t) => {
  t.is(kendallTauB([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  t.is(kendallTauB([1, 2, 3, 4], [40, 30, 20, 10]), -1);
  // Pairs: (1,2) tied in b, (1,3) (2,3) concordant: (2 - 0) / sqrt(3 * 2).
  t.true(Math.abs(kendallTauB([1, 2, 3], [5, 5, 6]) - 2 / Math.sqrt(6)) < 1e-12);
  t.is(kendallTauB([1, 1], [2, 3]), 0);
});

test("Kendall's tau-a: ties count as neither concordant nor discordant, over all pairs", (t) => {
  t.is(kendallTauA([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  t.is(kendallTauA([1, 2, 3, 4], [40, 30, 20, 10]), -1);
  t.is(kendallTauA([1, 2, 3], [1, 3, 2]), 1 / 3);
  t.is(kendallTauA([1, 2, 3], [5, 5, 6]), 2 / 3);
  t.is(kendallTauA([7], [8]), 1);
});

test('average ranks: 1 for the smallest, ties share the mean of the ranks they span', (t) => {
  t.deepEqual(averageRanks([30, 10, 20]), [3, 1, 2]);
  t.deepEqual(averageRanks([5, 7, 5, 5, 1]), [3, 5, 3, 3, 1]);
  t.deepEqual(averageRanks([]), []);
});

test("tau's bootstrap interval: [1, 1] for one order, around the tau for a noisy pair, the same for one seed", (t) => {
  const a = Array.from({ length: 30 }, (_, i) => i);
  const doubled = a.map((x) => 2 * x);
  t.deepEqual(tauBootstrapInterval(a, doubled, derive(1, 'boot')), [1, 1]);
  const noise = derive(2, 'noise');
  const b = a.map((x) => x + 15 * noise());
  const tau = kendallTauB(a, b);
  const [low, high] = tauBootstrapInterval(a, b, derive(1, 'boot'));
  t.true(low < tau && tau < high, `${low} < ${tau} < ${high}`);
  t.true(high - low > 0.05 && high - low < 0.6, `width ${high - low}`);
  t.deepEqual(tauBootstrapInterval(a, b, derive(1, 'boot')), [low, high]);
  const [wideLow, wideHigh] = tauBootstrapInterval(a, b, derive(1, 'boot'), { level: 0.99 });
  t.true(wideLow <= low && wideHigh >= high);
});
