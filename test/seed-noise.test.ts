import test from 'ava';
import { derive } from '../src/common/rng.js';
import { differenceStandardError, seedStandardDeviation } from '../src/common/seed-noise.js';

/** A standard normal draw (Box-Muller) from a seeded generator. */
function normal(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function seedPairs(count: number, sd: number, seed: number): [number, number][] {
  const rng = derive(seed, 'seed-pairs');
  return Array.from({ length: count }, (_, i) => {
    const modelMean = 85 + i * 0.1;
    return [modelMean + sd * normal(rng), modelMean + sd * normal(rng)];
  });
}

test('the seed standard deviation is recovered from pairs of results at two seeds, whatever the models mean', (t) => {
  const estimate = seedStandardDeviation(seedPairs(2000, 0.3, 1));
  t.true(Math.abs(estimate - 0.3) < 0.03, `estimate ${estimate}`);
});

test('one diverged training barely moves the estimate, and no pairs give NaN', (t) => {
  const pairs = seedPairs(23, 0.3, 2);
  const clean = seedStandardDeviation(pairs);
  const withDiverged = seedStandardDeviation([...pairs, [78, 84.6]]);
  t.true(Math.abs(withDiverged - clean) < 0.1 * clean, `${clean} -> ${withDiverged}`);
  t.true(Number.isNaN(seedStandardDeviation([])));
});

test("a difference of two means has the two means' errors added in quadrature", (t) => {
  t.is(differenceStandardError(0.3, 2, 2), 0.3);
  t.true(Math.abs(differenceStandardError(0.3, 1, 2) - 0.3 * Math.sqrt(1.5)) < 1e-12);
});
