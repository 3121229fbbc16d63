/**
 * The sandwich rule with in-place distillation (BigNAS; Once-for-All also distils from its largest
 * network), the supernet's `sandwich` setting: every training step of the shared weights also runs
 * the space's largest member, trained on the labels, and its smallest; the drawn member and the
 * smallest learn from the largest member's predictions instead of the labels. The two ends bound
 * every other member, so training them each step keeps the shared weights good across the space,
 * and a wide network's soft predictions are an easier target for a narrow one than the labels.
 */
import type { ChoicePoint, ChoiceSpace } from '../search-space/choice-space.js';
import { tf } from '../trainer/tf.js';

export interface SandwichMembers {
  largest: number[];
  smallest: number[];
}

/**
 * The space's largest and smallest members, one choice point at a time: the widest stem and
 * multiplier, most layers, largest kernel, SE ratio and expansion (against the narrowest, fewest, smallest, and
 * zero or dsconv ops), h-swish against ReLU, stride 1 against 2; both keep residuals on where skip
 * is a choice (members without them learn little from shared weights: results/supernet.md).
 */
export function sandwichMembers(space: ChoiceSpace): SandwichMembers {
  return {
    largest: space.choicePoints.map((point) => extremeOption(point, 'largest')),
    smallest: space.choicePoints.map((point) => extremeOption(point, 'smallest')),
  };
}

function extremeOption(point: ChoicePoint, end: 'largest' | 'smallest'): number {
  if (point.field === 'skip') return Math.max(0, point.options.indexOf(true));
  const sizes = point.options.map((option) => optionSize(point.field, option));
  const extreme = end === 'largest' ? Math.max(...sizes) : Math.min(...sizes);
  return sizes.indexOf(extreme);
}

/** An option's place in its field's order from cheapest to costliest. */
function optionSize(field: ChoicePoint['field'], option: unknown): number {
  switch (field) {
    case 'op':
      return opSize(option as string);
    case 'activation':
      return option === 'relu' ? 0 : 1;
    case 'stride':
      return -(option as number);
    default:
      return option as number;
  }
}

/** zero < dsconv < conv < mbconvN by expansion N (a regular 3x3 conv costs about a low-expansion bottleneck). */
function opSize(op: string): number {
  if (op === 'zero') return 0;
  if (op === 'dsconv') return 1;
  if (op === 'conv') return 2;
  return 2 + Number(op.slice('mbconv'.length));
}

/** Its input in the forward pass, nothing in the backward one: the teacher's predictions are a target, not a path to train it through. */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: x.clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/**
 * The step's loss under the sandwich rule: the largest member's cross-entropy against the labels,
 * plus each student's cross-entropy against the largest member's softmax (held fixed).
 */
export function sandwichLoss(labels: tf.Tensor, largestLogits: tf.Tensor2D, students: readonly tf.Tensor2D[]): tf.Scalar {
  const teacher = stopGradient(tf.softmax(largestLogits));
  const fromLabels = tf.losses.softmaxCrossEntropy(labels, largestLogits);
  const distilled = students.map((student) => tf.losses.softmaxCrossEntropy(teacher, student));
  return tf.addN([fromLabels, ...distilled]) as tf.Scalar;
}
