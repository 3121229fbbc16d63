/** One optimisation step of the shared weights through one member of the supernet. */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_OPTIMIZER, type OptimizedVariable, Optimizer, type OptimizerKind } from '../trainer/optimizer.js';
import type { Supernet } from './supernet.js';

export interface SupernetOptimizerSettings {
  kind: OptimizerKind;
  momentum: number;
  weightDecay: number;
}

/** The optimizer of every shared weight; a step leaves the weights its member does not use (and their slots) alone. */
export function supernetOptimizer(supernet: Supernet, settings: SupernetOptimizerSettings): Optimizer {
  return new Optimizer(supernet.namedVariables().map(optimizedVariable), {
    ...DEFAULT_OPTIMIZER[settings.kind],
    momentum: settings.momentum,
    weightDecay: settings.weightDecay,
  });
}

/**
 * A step function: forward in training mode (batch statistics; `mixedOps` as `Supernet.forward`), softmax cross-entropy, gradients
 * of the weights the member uses, optimizer update. The update is skipped when the loss is not
 * finite; returns the loss.
 */
export function supernetTrainingStep(supernet: Supernet, optimizer: Optimizer) {
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
        const logits = supernet.forward(choices, batch.x as tf.Tensor4D, { kind: 'batch' }, { dropoutSeed, plainResidual }, mixedOps);
        return tf.losses.softmaxCrossEntropy(batch.y, logits) as tf.Scalar;
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
