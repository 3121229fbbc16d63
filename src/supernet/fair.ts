/**
 * Strict fairness (FairNAS, Chu et al. 2021), the supernet's `fairPaths` setting: a uniform warm-up
 * step trains several members at once instead of one, chosen so that at every choice point each
 * option is trained the same number of times within the step, not only on average over many steps.
 * Their gradients are summed into one update, so no option's weights move ahead of another's
 * between updates (results/supernet.md: the uniform supernet ranked members with separately
 * weighted ops, such as dsconv stages, lower than standalone training does).
 */

import { type Rng, shuffle } from '../common/rng.js';
import type { ChoiceSpace } from '../search-space/choice-space.js';

/**
 * As many members as the space's widest choice point has options. Member j takes, at each choice
 * point, the j-th entry of a sequence of that point's options in shuffled rounds: a point with as
 * many options as members gives each exactly once; one with fewer repeats them in fresh shuffles.
 */
export function fairMembers(space: ChoiceSpace, rng: Rng): number[][] {
  const count = Math.max(...space.choicePoints.map((point) => point.options.length));
  const columns = space.choicePoints.map((point) => shuffledRounds(point.options.length, count, rng));
  return Array.from({ length: count }, (_, member) => columns.map((column) => column[member]!));
}

/** `length` option indices: shuffles of 0..options-1, one after another, the last one cut short. */
function shuffledRounds(options: number, length: number, rng: Rng): number[] {
  const sequence: number[] = [];
  while (sequence.length < length) {
    const round = Array.from({ length: options }, (_, i) => i);
    sequence.push(...(shuffle(round, rng) as number[]));
  }
  return sequence.slice(0, length);
}
