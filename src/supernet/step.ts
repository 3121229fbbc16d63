/** One optimisation step of the shared weights through one member of the supernet. */
import { DEFAULT_OPTIMIZER, type OptimizedVariable, Optimizer, type OptimizerKind } from '../trainer/optimizer.js';
import { tf } from '../trainer/tf.js';
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
 * A step function: forward in training mode (batch statistics; `mixedOps` as `Supernet.forward`)
 * through each of `members` (one, or several under strict fairness: fair.ts), softmax
 * cross-entropy, the gradients of the weights each uses summed over the members, one optimizer
 * update. The members run one at a time, so memory holds one member's activations. With `sandwich`
 * (the sandwich rule, sandwich.ts) the space's largest member learns from the labels and the
 * drawn and smallest members from its predictions. The update is skipped when the loss is not
 * finite. Returns the summed loss (with the sandwich rule, the largest and smallest members' losses
 * added) divided by the number of members drawn, so one member's loss reads alike.
 */
export function supernetTrainingStep(supernet: Supernet, optimizer: Optimizer, sandwich: SandwichMembers | null = null) {
  const variables = supernet.namedVariables().map((v) => v.variable);
  return (
    members: readonly (readonly number[])[],
    batch: { x: tf.Tensor; y: tf.Tensor },
    learningRate: number,
    dropoutSeed: number,
    mixedOps: readonly number[] = [],
    plainResidual = 0,
  ): number =>
    tf.tidy(() => {
      const x = batch.x as tf.Tensor4D;
      const logitsOf = (choices: readonly number[]) =>
        supernet.forward(choices, x, { kind: 'batch' }, { dropoutSeed, plainResidual }, mixedOps);
      let teacher: tf.Tensor | null = null;
      const lossOf = (choices: readonly number[]) => (): tf.Scalar => {
        const logits = logitsOf(choices);
        if (!sandwich) return tf.losses.softmaxCrossEntropy(batch.y, logits) as tf.Scalar;
        if (teacher) return tf.losses.softmaxCrossEntropy(teacher, logits) as tf.Scalar;
        const [largest, smallest] = [sandwich.largest, sandwich.smallest].map((member) =>
          supernet.forward(member, x, { kind: 'batch' }, { dropoutSeed }),
        );
        teacher = tf.keep(tf.softmax(largest!));
        return sandwichLoss(batch.y, largest!, [logits, smallest!]);
      };
      let loss = 0;
      const summed: tf.NamedTensorMap = {};
      for (const choices of members) {
        const { value, grads } = tf.variableGrads(lossOf(choices), variables);
        loss += value.dataSync()[0]!;
        for (const [name, grad] of Object.entries(grads)) summed[name] = summed[name] ? tf.add(summed[name]!, grad) : grad;
      }
      (teacher as tf.Tensor | null)?.dispose();
      if (Number.isFinite(loss))
        optimizer.apply(
          variables.map((v) => summed[v.name]),
          learningRate,
        );
      return loss / members.length;
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
