/** One optimisation step of the shared weights through one member of the supernet. */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_OPTIMIZER, type OptimizedVariable, Optimizer, type OptimizerKind } from '../trainer/optimizer.js';
import { type SandwichMembers, sandwichLoss } from './sandwich.js';
import type { Supernet } from './supernet.js';

export interface SupernetOptimizerSettings {
  kind: OptimizerKind;
  momentum: number;
  weightDecay: number;
}

/**
 * The optimizer of every shared weight. A step leaves the weights its member does not use at all
 * (and their slots) alone; of a weight it uses a slice of, the rest gets a zero gradient, so
 * momentum and weight decay still move it (as in Once-for-All's shared weights).
 */
export function supernetOptimizer(supernet: Supernet, settings: SupernetOptimizerSettings): Optimizer {
  return new Optimizer(supernet.namedVariables().map(optimizedVariable), {
    ...DEFAULT_OPTIMIZER[settings.kind],
    momentum: settings.momentum,
    weightDecay: settings.weightDecay,
  });
}

/**
 * A step function: forward in training mode (batch statistics; `mixedOps` as `Supernet.forward`), softmax cross-entropy, gradients
 * of the weights the member uses, optimizer update. With `sandwich` (the sandwich rule,
 * sandwich.ts) the space's largest member learns from the labels and the drawn and smallest members
 * from its predictions, one update for the three. The update is skipped when the loss is not
 * finite; returns the loss (with the sandwich rule, the sum of the three members' losses).
 */
export function supernetTrainingStep(supernet: Supernet, optimizer: Optimizer, sandwich: SandwichMembers | null = null) {
  const variables = supernet.namedVariables().map((v) => v.variable);
  return (
    choices: readonly number[],
    batch: { x: tf.Tensor; y: tf.Tensor },
    learningRate: number,
    dropoutSeed: number,
    mixedOps: readonly number[] = [],
    plainResidual = 0,
  ): number =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const x = batch.x as tf.Tensor4D;
        const logits = supernet.forward(choices, x, { kind: 'batch' }, { dropoutSeed, plainResidual }, mixedOps);
        if (!sandwich) return tf.losses.softmaxCrossEntropy(batch.y, logits) as tf.Scalar;
        const [largest, smallest] = [sandwich.largest, sandwich.smallest].map((member) =>
          supernet.forward(member, x, { kind: 'batch' }, { dropoutSeed }),
        );
        return sandwichLoss(batch.y, largest!, [logits, smallest!]);
      }, variables);
      const loss = value.dataSync()[0]!;
      if (Number.isFinite(loss))
        optimizer.apply(
          variables.map((v) => grads[v.name]),
          learningRate,
        );
      return loss;
    });
}

/** A supernet weight seen by the optimizer (which reads and writes tfjs-layers weights the same way). */
function optimizedVariable({ name, variable }: { name: string; variable: tf.Variable }): OptimizedVariable {
  return {
    originalName: name,
    shape: variable.shape,
    read: () => variable,
    write: (value) => variable.assign(value),
  };
}
