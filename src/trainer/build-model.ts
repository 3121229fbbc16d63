/**
 * ArchSpec -> tf.LayersModel (functional API). The spec is decoded once by `resolve` (the same
 * walk cost accounting uses); the builder turns each resolved layer into tfjs layers in one pass.
 * Layer names are the spec's stable layer ids, so weight names are `<layer id>/<weight>`.
 */
import seedrandom from 'seedrandom';
import type { ArchSpec } from '../search-space/archspec.js';
import { type ConvLayer, type Layer, type LayerActivation, resolve, type Shape, type Tap, type Unit } from '../search-space/resolve.js';
import { FastBatchNormalization } from './batch-norm.js';
import { HardSwish, ResizeBilinear, SeededDropout, SqueezeExcite } from './layers.js';
import { tf } from './tf.js';

export interface BuildOptions {
  /** Seed for weight initialisation and dropout; the same seed gives the same initial weights. */
  seed?: number;
  /** Batch-norm moving-average momentum (Keras convention: 0.99 = slow). */
  bnMomentum?: number;
  bnEpsilon?: number;
}

export function buildModel(spec: ArchSpec, options: BuildOptions = {}): tf.LayersModel {
  const net = resolve(spec);
  return buildUnitsModel(net.units, spec.name, options, net.taps);
}

type Sym = tf.SymbolicTensor;

/**
 * A model of resolved units: a whole network, or one op alone for latency profiling. Units after
 * pooling take [features] inputs, the others [height, width, channels]; a decoder unit reads the
 * named features it lists (when it is built alone they become extra model inputs). SSDLite
 * predictors give two outputs: class logits [N, boxes, classes] and box regressions [N, boxes, 4].
 */
export function buildUnitsModel(
  units: readonly Unit[],
  name: string,
  options: BuildOptions = {},
  taps: readonly Tap[] = [],
): tf.LayersModel {
  const first = units[0];
  if (!first) throw new Error('a model needs at least one unit');
  const builder = new UnitsModelBuilder(first, options);
  let x = builder.input;
  units.forEach((unit, index) => {
    x = builder.addUnit(unit, index, x, taps);
  });
  return builder.model(x, name);
}

/**
 * The state of one build: the seeded initialisers (drawn in layer order, so a seed gives the same
 * weights), the model inputs, the named features decoders read, and the SSDLite predictor outputs.
 */
class UnitsModelBuilder {
  readonly input: Sym;
  private readonly inputs: Sym[];
  private readonly features = new Map<string, Sym>();
  private readonly classLogits: Sym[] = [];
  private readonly boxes: Sym[] = [];
  private readonly rng: seedrandom.PRNG;
  private readonly bnMomentum: number;
  private readonly bnEpsilon: number;

  constructor(first: Unit, options: BuildOptions) {
    this.bnMomentum = options.bnMomentum ?? 0.99;
    this.bnEpsilon = options.bnEpsilon ?? 1e-3;
    this.rng = seedrandom(String(options.seed ?? 0));
    const afterPooling = first.kind === 'pre-logits' || first.kind === 'classifier';
    this.input = tf.input({ shape: afterPooling ? [first.inShape[2]] : [...first.inShape], name: 'input' });
    this.inputs = [this.input];
    if (first.kind === 'lraspp') this.features.set('low', this.addInput('low', first.lraspp!.low));
    if (first.kind === 'ssd-head') this.features.set(first.inputs![0]!, this.input);
  }

  private nextSeed(): number {
    return Math.floor(this.rng() * 2 ** 31);
  }

  private addInput(inputName: string, shape: Shape): Sym {
    const extra = tf.input({ shape: [...shape], name: inputName });
    this.inputs.push(extra);
    return extra;
  }

  /** Adds unit `index` after `x`; returns its output (an SSDLite predictor's input passes through). */
  addUnit(unit: Unit, index: number, x: Sym, taps: readonly Tap[]): Sym {
    const unitInput = x;
    if (unit.kind === 'lraspp') {
      x = this.lraspp(unit, x, this.features.get('low')!);
    } else if (unit.kind === 'ssd-head') {
      this.ssdHead(unit, this.features.get(unit.inputs![0]!)!);
    } else {
      unit.layers.forEach((layer, j) => {
        x = this.apply(layer, x);
        for (const tap of taps) if (tap.unit === index && tap.layer === j) this.features.set(tap.name, x);
      });
      if (unit.residual) x = tf.layers.add({ name: `${unit.id}.add` }).apply([unitInput, x]) as Sym;
    }
    for (const tap of taps) if (tap.unit === index && tap.layer === null) this.features.set(tap.name, x);
    return x;
  }

  /** The model: `x` as its output, or the joined SSDLite predictions when there are any. */
  model(x: Sym, name: string): tf.LayersModel {
    if (this.classLogits.length) {
      const join = (parts: Sym[], what: string) =>
        parts.length === 1 ? parts[0]! : (tf.layers.concatenate({ name: what, axis: 1 }).apply(parts) as Sym);
      return tf.model({ inputs: this.inputs, outputs: [join(this.classLogits, 'class_logits'), join(this.boxes, 'box_regression')], name });
    }
    return tf.model({ inputs: this.inputs, outputs: x, name });
  }

  private apply(layer: Layer, x: Sym): Sym {
    switch (layer.op) {
      case 'conv': {
        let y = convLayer(layer, this.nextSeed()).apply(x) as Sym;
        if (layer.batchNorm)
          y = new FastBatchNormalization({ name: bnName(layer.name), momentum: this.bnMomentum, epsilon: this.bnEpsilon }).apply(y) as Sym;
        return layer.activation ? (activationLayer(layer.activation, `${layer.name}_act`).apply(y) as Sym) : y;
      }
      case 'se':
        return new SqueezeExcite({
          name: layer.name,
          squeeze: layer.squeeze,
          activation: layer.activation,
          gate: layer.gate,
          seed: this.nextSeed(),
        }).apply(x) as Sym;
      case 'global-avg-pool':
        return tf.layers.globalAveragePooling2d({ name: layer.name }).apply(x) as Sym;
      case 'avg-pool':
        return tf.layers
          .averagePooling2d({ name: layer.name, poolSize: [...layer.kernel], strides: [...layer.stride], padding: 'valid' })
          .apply(x) as Sym;
      case 'resize':
        return new ResizeBilinear({ name: layer.name, height: layer.outShape[0], width: layer.outShape[1] }).apply(x) as Sym;
      case 'dropout':
        return new SeededDropout({ name: layer.name, rate: layer.rate, seed: this.nextSeed() }).apply(x) as Sym;
      case 'dense': {
        const kernelInitializer = tf.initializers.randomNormal({ mean: 0, stddev: 0.01, seed: this.nextSeed() });
        const y = tf.layers.dense({ name: layer.name, units: layer.outFeatures, useBias: true, kernelInitializer }).apply(x) as Sym;
        return layer.activation ? (activationLayer(layer.activation, `${layer.name}_act`).apply(y) as Sym) : y;
      }
    }
  }

  /** LR-ASPP: relu(bn(conv(high))) * sigmoid(conv(pool(high))), upsampled, classified, plus the low skip. */
  private lraspp(unit: Unit, high: Sym, low: Sym): Sym {
    const a = this.apply(layerNamed(unit, 'cbr'), high);
    const global = unit.lraspp!.pooling.type === 'global';
    let pooled = this.apply(layerNamed(unit, 'pool'), high);
    if (global) pooled = tf.layers.reshape({ name: `${unit.id}.pooled`, targetShape: [1, 1, unit.inShape[2]] }).apply(pooled) as Sym;
    let gate = this.apply(layerNamed(unit, 'scale'), pooled);
    // A global gate broadcasts over the features; a windowed one is resized onto them.
    if (!global) gate = new ResizeBilinear({ name: `${unit.id}.gate`, height: a.shape[1]!, width: a.shape[2]! }).apply(gate) as Sym;
    const attended = tf.layers.multiply({ name: `${unit.id}.attend` }).apply([a, gate]) as Sym;
    const high8 = this.apply(layerNamed(unit, 'high_classifier'), this.apply(layerNamed(unit, 'up'), attended));
    const low8 = this.apply(layerNamed(unit, 'low_classifier'), low);
    const sum = tf.layers.add({ name: `${unit.id}.sum` }).apply([high8, low8]) as Sym;
    return this.apply(layerNamed(unit, 'out'), sum);
  }

  /** An SSDLite predictor: depthwise-separable class and box convolutions, flattened per anchor. */
  private ssdHead(unit: Unit, x: Sym): void {
    const { anchors, classes } = unit.ssd!;
    const locations = unit.inShape[0] * unit.inShape[1] * anchors;
    const cls = this.apply(layerNamed(unit, 'cls'), this.apply(layerNamed(unit, 'cls_dw'), x));
    const box = this.apply(layerNamed(unit, 'box'), this.apply(layerNamed(unit, 'box_dw'), x));
    this.classLogits.push(tf.layers.reshape({ name: `${unit.id}.cls_flat`, targetShape: [locations, classes] }).apply(cls) as Sym);
    this.boxes.push(tf.layers.reshape({ name: `${unit.id}.box_flat`, targetShape: [locations, 4] }).apply(box) as Sym);
  }
}

/** The layer of a decoder or predictor unit with the given name suffix. */
function layerNamed(unit: Unit, layerName: string): Layer {
  return unit.layers.find((l) => l.name.endsWith(`.${layerName}`))!;
}

/** He-normal (fan-out) initialisation, as the reference implementations use for convolutions. */
function convLayer(layer: ConvLayer, seed: number): tf.layers.Layer {
  const initializer = tf.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal', seed });
  const common = {
    name: layer.name,
    kernelSize: layer.kernel,
    strides: layer.stride,
    dilationRate: layer.dilation,
    padding: 'same' as const,
    useBias: layer.bias,
  };
  if (layer.groups === 1) return tf.layers.conv2d({ ...common, filters: layer.outChannels, kernelInitializer: initializer });
  if (layer.groups === layer.inChannels && layer.outChannels === layer.inChannels) {
    return tf.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: initializer });
  }
  throw new Error(`${layer.name}: grouped convolutions other than depthwise are not supported`);
}

function activationLayer(activation: LayerActivation, name: string): tf.layers.Layer {
  switch (activation) {
    case 'sigmoid':
      return tf.layers.activation({ name, activation: 'sigmoid' });
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
