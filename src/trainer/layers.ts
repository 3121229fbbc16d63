/**
 * Layers the MobileNetV3 family needs beyond stock tfjs: h-swish and squeeze-and-excite.
 * They are registered with tf.serialization, so saved models load back with `tf.loadLayersModel`
 * (in a browser too, once this module is imported there).
 */
import type { Activation, SqueezeExcite as SqueezeExciteSpec } from '../search-space/archspec.js';
import { tf } from './tf.js';

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];
type Kwargs = Record<string, unknown>;

/** h-sigmoid(x) = ReLU6(x + 3) / 6 */
export function hardSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.div(tf.relu6(tf.add(x, 3)), 6);
}

/** h-swish(x) = x * ReLU6(x + 3) / 6 */
export function hardSwish(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, hardSigmoid(x));
}

export function applyActivation(x: tf.Tensor, activation: Activation | 'hsigmoid' | 'sigmoid'): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'hswish':
      return hardSwish(x);
    case 'swish':
      return tf.mul(x, tf.sigmoid(x));
    case 'hsigmoid':
      return hardSigmoid(x);
    case 'sigmoid':
      return tf.sigmoid(x);
  }
}

/**
 * A built-in tfjs-layers class, from its serialization registry entry (tfjs does not export the
 * classes themselves). Subclasses keep the built-in class name, so saved models stay standard.
 */
export function registeredLayerClass<Args>(className: string): new (args: Args) => tf.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`tfjs-layers ${className} is not registered`);
  return entry[0] as unknown as new (
    args: Args,
  ) => tf.layers.Layer;
}

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

export class HardSwish extends tf.layers.Layer {
  static readonly className = 'HardSwish';

  constructor(args?: LayerArgs) {
    super(args ?? {});
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => hardSwish(single(inputs)));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}

export interface SqueezeExciteArgs extends NonNullable<LayerArgs> {
  squeeze: number;
  activation: Activation;
  gate: SqueezeExciteSpec['gate'];
  seed?: number;
}

/**
 * Squeeze-and-excite on NHWC features: global average pool, dense reduce (bias), activation,
 * dense expand (bias), gate, channel-wise scale. Weights: reduce_kernel [C, S], reduce_bias [S],
 * expand_kernel [S, C], expand_bias [C].
 */
export class SqueezeExcite extends tf.layers.Layer {
  static readonly className = 'SqueezeExcite';
  readonly squeeze: number;
  readonly activation: Activation;
  readonly gate: SqueezeExciteSpec['gate'];
  private readonly seed: number | undefined;
  private reduceKernel!: tf.LayerVariable;
  private reduceBias!: tf.LayerVariable;
  private expandKernel!: tf.LayerVariable;
  private expandBias!: tf.LayerVariable;

  constructor(args: SqueezeExciteArgs) {
    super(args);
    this.squeeze = args.squeeze;
    this.activation = args.activation;
    this.gate = args.gate;
    this.seed = args.seed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (typeof channels !== 'number') throw new Error(`${this.name}: channel dimension must be known`);
    const init = (seed: number | undefined) => tf.initializers.varianceScaling({ scale: 1, mode: 'fanAvg', distribution: 'uniform', seed });
    const seed = this.seed;
    this.reduceKernel = this.addWeight('reduce_kernel', [channels, this.squeeze], 'float32', init(seed));
    this.reduceBias = this.addWeight('reduce_bias', [this.squeeze], 'float32', tf.initializers.zeros());
    this.expandKernel = this.addWeight(
      'expand_kernel',
      [this.squeeze, channels],
      'float32',
      init(seed === undefined ? undefined : seed + 1),
    );
    this.expandBias = this.addWeight('expand_bias', [channels], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
      const reduced = applyActivation(
        tf.add(tf.matMul(pooled, this.reduceKernel.read() as tf.Tensor2D), this.reduceBias.read()),
        this.activation,
      );
      const expanded = tf.add(tf.matMul(reduced as tf.Tensor2D, this.expandKernel.read() as tf.Tensor2D), this.expandBias.read());
      const scale = applyActivation(expanded, this.gate);
      return tf.mul(x, tf.reshape(scale, [-1, 1, 1, x.shape[3]]));
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), squeeze: this.squeeze, activation: this.activation, gate: this.gate };
  }
}

/**
 * Dropout whose masks come from a seeded stream: the mask of a training step depends on the layer's
 * seed and `step`, which the trainer sets, so runs (and resumed runs) are reproducible.
 */
export class SeededDropout extends registeredLayerClass<{ rate: number; name?: string }>('Dropout') {
  step = 0;
  private readonly seed: number;

  constructor(args: { rate: number; name?: string; seed: number }) {
    super({ rate: args.rate, name: args.name });
    this.seed = args.seed;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = single(inputs);
    const rate = (this as unknown as { rate: number }).rate;
    if (!kwargs['training'] || rate <= 0) return tf.clone(x);
    return tf.tidy(() => {
      const seed = (this.seed * 7919 + this.step) % 2 ** 31;
      const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
      return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
    });
  }
}

/** Bilinear resizing of NHWC features to a fixed size (LR-ASPP's upsampling). */
export class ResizeBilinear extends tf.layers.Layer {
  static readonly className = 'ResizeBilinear';
  readonly height: number;
  readonly width: number;

  constructor(args: NonNullable<LayerArgs> & { height: number; width: number }) {
    super(args);
    this.height = args.height;
    this.width = args.width;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => tf.image.resizeBilinear(single(inputs) as tf.Tensor4D, [this.height, this.width]));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, this.height, this.width, shape[3] ?? null];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), height: this.height, width: this.width };
  }
}

tf.serialization.registerClass(ResizeBilinear);
tf.serialization.registerClass(HardSwish);
tf.serialization.registerClass(SqueezeExcite);
