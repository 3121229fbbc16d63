import { BatchNormStats, type Supernet } from '../../src/supernet/supernet.js';
import { buildModel } from '../../src/trainer/build-model.js';
import { assignWeights } from '../../src/trainer/checkpoint.js';
import { tf } from '../../src/trainer/tf.js';

/** A batch of standard-normal images [n, resolution, resolution, channels], seeded. */
export function randomBatch(seed: number, n: number, resolution: number, channels: number): tf.Tensor4D {
  return tf.randomNormal([n, resolution, resolution, channels], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/**
 * A member with batch norm calibrated on two random batches, and the model built from its spec
 * with its inherited weights (dropout off, so that training-mode passes are deterministic too).
 */
function calibratedMember(supernet: Supernet, choices: number[], channels: number) {
  const { resolution } = supernet.options;
  const stats = new BatchNormStats();
  for (const seed of [1, 2])
    tf.tidy(() => supernet.forward(choices, randomBatch(seed, 8, resolution, channels), { kind: 'calibrate', stats }));
  const spec = supernet.member(choices);
  const model = buildModel({ ...spec, dropout: 0 });
  assignWeights(model, supernet.memberWeights(choices, stats), 'supernet member');
  return { spec, stats, model };
}

/**
 * Compares a calibrated member's fixed-BN logits with those of the model built from its spec with
 * its inherited weights: the largest difference, the logits' scale and the member's block count.
 */
export function supernetParity(supernet: Supernet, choices: number[], channels: number) {
  const { spec, stats, model } = calibratedMember(supernet, choices, channels);
  const x = randomBatch(3, 4, supernet.options.resolution, channels);
  const fromSupernet = tf.tidy(() => supernet.forward(choices, x, { kind: 'fixed', stats }));
  const fromModel = model.predict(x) as tf.Tensor;
  const diff = tf.max(tf.abs(tf.sub(fromSupernet, fromModel))).dataSync()[0]!;
  const scale = tf.max(tf.abs(fromModel)).dataSync()[0]!;
  tf.dispose([x, fromSupernet, fromModel]);
  model.dispose();
  return { diff, scale, blocks: spec.blocks.length };
}

/**
 * One training-mode pass (batch statistics, dropout off) of a member through the supernet and
 * through the model built from its spec with its inherited weights, on the same labelled batch:
 * both losses, and the largest difference between the two gradients of any trainable weight of the
 * member, relative to that weight's largest gradient. The supernet's gradient of a member weight is
 * read off its slice after a scaled step (`memberWeights` before and after), then the shared
 * weights are restored.
 */
export function supernetGradientParity(supernet: Supernet, choices: number[], channels: number) {
  const { resolution, classes } = supernet.options;
  const x = randomBatch(5, 6, resolution, channels);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), classes).toFloat());
  const { stats, model } = calibratedMember(supernet, choices, channels);
  const { loss: supernetLoss, gradients: fromSupernet } = memberGradientsThroughSupernet(supernet, choices, x, y, stats);
  const modelVariables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor),
    modelVariables,
  );
  let worst = 0;
  model.trainableWeights.forEach((weight, i) => {
    const own = grads[modelVariables[i]!.name]!.dataSync();
    const shared = fromSupernet.get(weight.originalName)!;
    let diff = 0;
    let scale = 1e-6;
    own.forEach((g, j) => {
      diff = Math.max(diff, Math.abs(g - shared[j]!));
      scale = Math.max(scale, Math.abs(g));
    });
    worst = Math.max(worst, diff / scale);
  });
  const modelLoss = value.dataSync()[0]!;
  tf.dispose([x, y, value, ...Object.values(grads)]);
  model.dispose();
  return { supernetLoss, modelLoss, worstRelativeDifference: worst };
}

function memberGradientsThroughSupernet(supernet: Supernet, choices: number[], x: tf.Tensor4D, y: tf.Tensor, stats: BatchNormStats) {
  const step = 1e3; // a step far above rounding, read back divided by it
  const variables = supernet.namedVariables().map((v) => v.variable);
  const before = new Map(supernet.memberWeights(choices, stats).map((w) => [w.name, w.values]));
  const saved = variables.map((v) => tf.clone(v));
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, supernet.forward(choices, x, { kind: 'batch' })),
    variables,
  );
  for (const v of variables) if (grads[v.name]) v.assign(tf.tidy(() => tf.sub(v, tf.mul(grads[v.name]!, step))));
  const gradients = new Map(
    supernet.memberWeights(choices, stats).map((w) => [w.name, before.get(w.name)!.map((b, j) => (b - w.values[j]!) / step)]),
  );
  for (const [i, v] of variables.entries()) v.assign(saved[i]!);
  const loss = value.dataSync()[0]!;
  tf.dispose([value, ...saved, ...Object.values(grads)]);
  return { loss, gradients };
}
