import { BatchNormStats, type Supernet } from '../../src/supernet/supernet.js';
import { buildModel } from '../../src/trainer/build-model.js';
import { assignWeights } from '../../src/trainer/checkpoint.js';
import { tf } from '../../src/trainer/tf.js';

/** A batch of standard-normal images [n, resolution, resolution, channels], seeded. */
export function randomBatch(seed: number, n: number, resolution: number, channels: number): tf.Tensor4D {
  return tf.randomNormal([n, resolution, resolution, channels], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/**
 * Calibrates a member on two batches, then compares its fixed-BN logits with those of the model
 * built from its spec with its inherited weights: the largest difference, the logits' scale and
 * the member's block count.
 */
export function supernetParity(supernet: Supernet, choices: number[], channels: number) {
  const { resolution } = supernet.options;
  const stats = new BatchNormStats();
  for (const seed of [1, 2])
    tf.tidy(() => supernet.forward(choices, randomBatch(seed, 8, resolution, channels), { kind: 'calibrate', stats }));
  const x = randomBatch(3, 4, resolution, channels);
  const fromSupernet = tf.tidy(() => supernet.forward(choices, x, { kind: 'fixed', stats }));
  const spec = supernet.member(choices);
  const model = buildModel(spec);
  assignWeights(model, supernet.memberWeights(choices, stats), 'supernet member');
  const fromModel = model.predict(x) as tf.Tensor;
  const diff = tf.max(tf.abs(tf.sub(fromSupernet, fromModel))).dataSync()[0]!;
  const scale = tf.max(tf.abs(fromModel)).dataSync()[0]!;
  tf.dispose([x, fromSupernet, fromModel]);
  model.dispose();
  return { diff, scale, blocks: spec.blocks.length };
}
