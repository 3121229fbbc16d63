import test from 'ava';
import { tf } from '../src/trainer/tf.js';
import '@tensorflow/tfjs-backend-wasm';
import seedrandom from 'seedrandom';
import { ARCHSPEC_SCHEMA_VERSION, parseArchSpec } from '../src/search-space/archspec.js';
import { normalizeInTraining } from '../src/trainer/batch-norm.js';
import { buildModel } from '../src/trainer/build-model.js';
import { registerWasmTrainingKernels } from '../src/trainer/wasm-kernels.js';
import { relativeError } from './helpers/numeric.js';

registerWasmTrainingKernels();
tf.enableProdMode();

function values(shape: number[], seed: string): Float32Array {
  const rng = seedrandom(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng() * 2 - 1);
}

/** A full bottleneck: 1x1 expand, depthwise 5x5, BN, SE (h-sigmoid), h-swish, projection, residual. */
const blockSpec = parseArchSpec({
  schemaVersion: ARCHSPEC_SCHEMA_VERSION,
  kind: 'archspec',
  name: 'bneck-gradient-check',
  provenance: { command: 'test', seed: null },
  input: { resolution: 12, channels: 3 },
  stem: { id: 'stem', kernel: 3, stride: 2, out: 8, activation: 'hswish' },
  blocks: [
    {
      type: 'bneck',
      id: 'b1',
      kernel: 5,
      stride: 1,
      exp: 24,
      out: 8,
      activation: 'hswish',
      residual: true,
      se: { squeeze: 8, gate: 'hsigmoid', activation: 'relu' },
    },
    { type: 'bneck', id: 'b2', kernel: 3, stride: 2, exp: 16, out: 12, activation: 'relu', residual: false, se: null },
  ],
  head: {
    conv: { id: 'head_conv', out: 16, activation: 'hswish' },
    pool: 'avg',
    preLogits: { id: 'head_prelogits', out: 20, activation: 'hswish' },
  },
  classes: 5,
  dropout: 0,
});

function blockGradients() {
  const model = buildModel(blockSpec, { seed: 11 });
  const x = tf.tensor4d(values([4, 12, 12, 3], 'x'), [4, 12, 12, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 3, 1, 4], 'int32'), 5);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    variables,
  );
  const result = {
    loss: value.dataSync()[0]!,
    grads: model.trainableWeights.map((w, i) => ({ name: w.originalName, values: grads[variables[i]!.name]!.dataSync().slice() })),
  };
  tf.dispose([x, labels, value, ...Object.values(grads)]);
  model.dispose();
  return result;
}

test.serial('bottleneck block: every weight gradient on wasm matches the cpu backend', async (t) => {
  await tf.setBackend('cpu');
  const expected = blockGradients();
  await tf.setBackend('wasm');
  const actual = blockGradients();
  t.true(Math.abs(actual.loss - expected.loss) < 1e-5 * Math.abs(expected.loss));
  t.is(actual.grads.length, expected.grads.length);
  // Some gradients are exactly zero in theory (a BN beta feeding only into another BN) and both
  // backends return rounding noise there: measure errors against at least 1e-3 of the largest gradient.
  const globalScale = Math.max(...expected.grads.map((g) => Math.max(...Array.from(g.values, Math.abs))));
  actual.grads.forEach((g, i) => {
    const reference = expected.grads[i]!.values;
    const scale = Math.max(1e-3 * globalScale, ...Array.from(reference, Math.abs));
    const err = Math.max(...Array.from(g.values, (v, j) => Math.abs(v - reference[j]!))) / scale;
    t.true(err < 1e-4, `${g.name}: relative error ${err}`);
  });
});

test.serial('fused batch-norm gradient equals autodiff through moments + batchNorm', async (t) => {
  await tf.setBackend('cpu');
  const shape: [number, number, number, number] = [3, 5, 4, 6];
  const x = tf.tensor4d(values(shape, 'bn-x'), shape);
  const gamma = tf.tensor1d(values([6], 'bn-g'));
  const beta = tf.tensor1d(values([6], 'bn-b'));
  const r = tf.tensor4d(values(shape, 'bn-r'), shape);
  const reference = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(a, [0, 1, 2]);
    return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, 1e-3), r));
  })([x, gamma, beta]);
  const fused = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { output, mean, variance } = normalizeInTraining(a as tf.Tensor4D, g, b, 1e-3);
    tf.dispose([mean, variance]);
    return tf.sum(tf.mul(output, r));
  })([x, gamma, beta]);
  ['x', 'gamma', 'beta'].forEach((name, i) => {
    const err = relativeError(fused[i]!.dataSync(), reference[i]!.dataSync());
    t.true(err < 1e-5, `d${name}: ${err}`);
  });
});
