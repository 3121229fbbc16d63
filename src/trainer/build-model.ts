/**
 * ArchSpec -> tf.LayersModel (functional API). The spec is decoded once by `resolve` (the same
 * walk cost accounting uses); the builder turns each resolved layer into tfjs layers in one pass.
 * Layer names are the spec's stable layer ids, so weight names are `<layer id>/<weight>`.
 */
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import type { Activation, ArchSpec } from '../search-space/archspec.js';
import { resolve, type ConvLayer, type Layer, type Unit } from '../search-space/resolve.js';
import { FastBatchNormalization } from './batch-norm.js';
import { HardSwish, SeededDropout, SqueezeExcite } from './layers.js';

export interface BuildOptions {
  /** Seed for weight initialisation and dropout; the same seed gives the same initial weights. */
  seed?: number;
  /** Batch-norm moving-average momentum (Keras convention: 0.99 = slow). */
  bnMomentum?: number;
  bnEpsilon?: number;
}

export function buildModel(spec: ArchSpec, options: BuildOptions = {}): tf.LayersModel {
  return buildUnitsModel(resolve(spec).units, spec.name, options);
}

/**
 * A model of consecutive resolved units (a whole network, or one block for latency profiling).
 * Units after pooling take [features] inputs, the others [height, width, channels].
 */
export function buildUnitsModel(units: readonly Unit[], name: string, options: BuildOptions = {}): tf.LayersModel {
  const { bnMomentum = 0.99, bnEpsilon = 1e-3 } = options;
  const rng = seedrandom(String(options.seed ?? 0));
  const nextSeed = () => Math.floor(rng() * 2 ** 31);
  const first = units[0];
  if (!first) throw new Error('a model needs at least one unit');
  const afterPooling = first.kind === 'pre-logits' || first.kind === 'classifier';
  const input = tf.input({ shape: afterPooling ? [first.inShape[2]] : [...first.inShape], name: 'input' });

  const apply = (layer: Layer, x: tf.SymbolicTensor): tf.SymbolicTensor => {
    switch (layer.op) {
      case 'conv': {
        let y = convLayer(layer, nextSeed()).apply(x) as tf.SymbolicTensor;
        if (layer.batchNorm) y = new FastBatchNormalization({ name: bnName(layer.name), momentum: bnMomentum, epsilon: bnEpsilon }).apply(y) as tf.SymbolicTensor;
        return layer.activation ? activationLayer(layer.activation, `${layer.name}_act`).apply(y) as tf.SymbolicTensor : y;
      }
      case 'se':
        return new SqueezeExcite({ name: layer.name, squeeze: layer.squeeze, activation: layer.activation, gate: layer.gate, seed: nextSeed() }).apply(x) as tf.SymbolicTensor;
      case 'global-avg-pool':
        return tf.layers.globalAveragePooling2d({ name: layer.name }).apply(x) as tf.SymbolicTensor;
      case 'dropout':
        return new SeededDropout({ name: layer.name, rate: layer.rate, seed: nextSeed() }).apply(x) as tf.SymbolicTensor;
      case 'dense': {
        const kernelInitializer = tf.initializers.randomNormal({ mean: 0, stddev: 0.01, seed: nextSeed() });
        const y = tf.layers.dense({ name: layer.name, units: layer.outFeatures, useBias: true, kernelInitializer }).apply(x) as tf.SymbolicTensor;
        return layer.activation ? activationLayer(layer.activation, `${layer.name}_act`).apply(y) as tf.SymbolicTensor : y;
      }
    }
  };

  let x: tf.SymbolicTensor = input;
  for (const unit of units) {
    const unitInput = x;
    for (const layer of unit.layers) x = apply(layer, x);
    if (unit.residual) x = tf.layers.add({ name: `${unit.id}.add` }).apply([unitInput, x]) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name });
}

/** He-normal (fan-out) initialisation, as the reference implementations use for convolutions. */
function convLayer(layer: ConvLayer, seed: number): tf.layers.Layer {
  const initializer = tf.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal', seed });
  const common = { name: layer.name, kernelSize: layer.kernel, strides: layer.stride, padding: 'same' as const, useBias: layer.bias };
  if (layer.groups === 1) return tf.layers.conv2d({ ...common, filters: layer.outChannels, kernelInitializer: initializer });
  if (layer.groups === layer.inChannels && layer.outChannels === layer.inChannels) {
    return tf.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: initializer });
  }
  throw new Error(`${layer.name}: grouped convolutions other than depthwise are not supported`);
}

function activationLayer(activation: Activation, name: string): tf.layers.Layer {
  switch (activation) {
    case 'relu':
      return tf.layers.reLU({ name });
    case 'relu6':
      return tf.layers.reLU({ name, maxValue: 6 });
    case 'swish':
      return tf.layers.activation({ name, activation: 'swish' });
    case 'hswish':
      return new HardSwish({ name });
  }
}

/** Name of the batch-norm layer after a convolution. */
export function bnName(layerName: string): string {
  return `${layerName}_bn`;
}

/** Sets the step that seeds the dropout masks of a training step. */
export function setDropoutStep(model: tf.LayersModel, step: number): void {
  for (const layer of model.layers) if (layer instanceof SeededDropout) layer.step = step;
}

/** Number of trainable parameters of a built model (what the analytic count predicts). */
export function trainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + (w.shape ?? []).reduce((a: number, b) => a * (b ?? 1), 1), 0);
}
