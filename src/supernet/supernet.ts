/**
 * A weight-sharing supernet over a choice space (TuNAS / Once-for-All): one set of weights from
 * which every member of the space runs.
 *
 * Weights live in slots. A member's layer maps to the slot of its stage, its position in the stage
 * and its op family (`s3.1.bneck.dw`); the stem and head layers are their own slots. A slot holds
 * the widest tensor any member needs there, and a member takes the leading input/output channels
 * and the centre of the kernel (a 3x3 inside a 5x5). So expansion widths and filter multipliers
 * share channels, kernels share centres, a stage with k layers uses its first k layer slots (a
 * zero layer leaves its slot unused), layers drawn per layer each have their own slots, and
 * the op families (conv, dsconv, bneck) keep separate weights. SE, skip and the activation are
 * switches of the path with no weights of their own beyond the SE layers.
 *
 * The forward pass is one generic walk over the member's resolved layers (the same decoding the
 * model builder uses), so a member's inherited weights, written under its layer names, load into
 * `buildModel(spec)` and compute the same function.
 */
import { InputError } from '../common/errors.js';
import { derive, nextSeed } from '../common/rng.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { type ChoiceSpace, ZERO_OP } from '../search-space/choice-space.js';
import { type ConvLayer, type DenseLayer, type Layer, resolve, type SeLayer, type Shape, type Unit } from '../search-space/resolve.js';
import { normalizeInTraining } from '../trainer/batch-norm.js';
import type { NamedWeight } from '../trainer/checkpoint.js';
import { applyActivation } from '../trainer/layers.js';
import { tf } from '../trainer/tf.js';

/** How batch norm behaves in a forward pass. */
export type BatchNormMode =
  /** Batch statistics, differentiable (training the shared weights; the controller's reward). */
  | { kind: 'batch' }
  /** Batch statistics, accumulated into `stats` (recalibrating a member before it is evaluated). */
  | { kind: 'calibrate'; stats: BatchNormStats }
  /** Fixed statistics from a calibration. */
  | { kind: 'fixed'; stats: BatchNormStats };

/** Per member layer name: the running sums of its batch means and variances over calibration batches. */
export class BatchNormStats {
  private readonly sums = new Map<string, { mean: Float32Array; variance: Float32Array; batches: number }>();

  add(layer: string, mean: Float32Array, variance: Float32Array): void {
    const entry = this.sums.get(layer);
    if (!entry) {
      this.sums.set(layer, { mean: Float32Array.from(mean), variance: Float32Array.from(variance), batches: 1 });
      return;
    }
    for (let i = 0; i < mean.length; i++) {
      entry.mean[i]! += mean[i]!;
      entry.variance[i]! += variance[i]!;
    }
    entry.batches++;
  }

  /** The averaged statistics of a layer; an error when the member was not calibrated. */
  get(layer: string): { mean: Float32Array; variance: Float32Array } {
    const entry = this.sums.get(layer);
    if (!entry) throw new Error(`batch norm of ${layer} was not calibrated`);
    return { mean: entry.mean.map((v) => v / entry.batches), variance: entry.variance.map((v) => v / entry.batches) };
  }
}

export interface SupernetOptions {
  /** Input resolution of the members (the proxy task's). */
  resolution: number;
  /** Classifier width (the proxy task's classes). */
  classes: number;
  seed: number;
  bnEpsilon?: number;
}

/** Role of a weight inside a slot, and its name in a tfjs model (`<layer>/<weight>`). */
type WeightRole =
  | 'kernel'
  | 'depthwise_kernel'
  | 'bias'
  | 'gamma'
  | 'beta'
  | 'reduce_kernel'
  | 'reduce_bias'
  | 'expand_kernel'
  | 'expand_bias';

/** Widest shape every slot takes, found by walking every way each stage can be built. */
interface SlotShape {
  kind: 'conv' | 'depthwise' | 'se' | 'dense';
  kernel: number;
  /** conv / dense: input channels; depthwise and SE: channels. */
  in: number;
  /** conv / dense: output channels; SE: squeeze width. */
  out: number;
  batchNorm: boolean;
  bias: boolean;
}

export class Supernet {
  readonly variables = new Map<string, tf.Variable>();
  readonly bnEpsilon: number;
  private readonly shapes = new Map<string, SlotShape>();

  constructor(
    readonly space: ChoiceSpace,
    readonly options: SupernetOptions,
  ) {
    this.bnEpsilon = options.bnEpsilon ?? 1e-3;
    for (const [slot, unitSlots] of this.walkSlots(options.resolution)) for (const layer of unitSlots) this.widen(slot(layer), layer);
    this.createVariables();
  }

  /** The member of a choice vector as a plain ArchSpec at the supernet's input resolution and classes. */
  member(choices: readonly number[], name?: string): ArchSpec {
    return this.space.materialise(choices, { resolution: this.options.resolution, classes: this.options.classes, name });
  }

  /**
   * Logits of a member on a batch of images [N, H, W, C]. `mixedOps` (training only) lists op
   * choice points whose every op family runs, their outputs summed (TuNAS's op warm-up).
   * `training.plainResidual` (the residual warm-up) makes each block without its residual whose
   * input and output shapes match add its input times that weight (1: as if its residual were on).
   */
  forward(
    choices: readonly number[],
    x: tf.Tensor4D,
    bn: BatchNormMode,
    training: { dropoutSeed: number; plainResidual?: number } | null = null,
    mixedOps: readonly number[] = [],
  ): tf.Tensor2D {
    const net = resolve(this.member(choices));
    const places = this.space.blockPlaces(choices);
    const slotOf = slotNamer(this.space, places);
    const alternatives = this.opAlternatives(choices, mixedOps);
    const plainResidual = training?.plainResidual ?? 0;
    // The member's blocks (not the stem or head), only while the residual warm-up runs.
    const blocks = plainResidual > 0 ? places : null;
    let h: tf.Tensor = x;
    for (const unit of net.units) {
      const unitInput = h;
      const paths = alternatives.get(unit.id) ?? [{ unit, slotOf }];
      const outputs = paths.map((path) =>
        path.unit.layers.reduce((y, layer) => this.applyLayer(path.slotOf(path.unit, layer), layer, y, bn, training), unitInput),
      );
      h = outputs.length === 1 ? outputs[0]! : tf.addN(outputs);
      if (unit.residual) h = tf.add(unitInput, h);
      else if (blocks?.has(unit.id) && tf.util.arraysEqual(unitInput.shape, h.shape)) h = tf.add(h, tf.mul(unitInput, plainResidual));
    }
    return h as tf.Tensor2D;
  }

  /**
   * Op choice points a member may run mixed: those whose options span more than one op family
   * (separate weights) and never leave the layer out.
   */
  mixableOps(): number[] {
    return this.space.choicePoints.flatMap((c, i) =>
      c.field === 'op' && !c.options.includes(ZERO_OP) && opFamilies(c.options as string[]) > 1 ? [i] : [],
    );
  }

  /**
   * Skip choice points that can switch a stage's residuals off. Members without residuals whose
   * depth and widths vary barely learn from shared weights (results/supernet.md), so a search
   * over such a space gets a weak accuracy signal unless the residual warm-up runs (forward's
   * `plainResidual`).
   */
  plainMemberChoices(): string[] {
    return this.space.choicePoints.filter((c) => c.field === 'skip' && c.options.includes(false)).map((c) => c.path);
  }

  /** For the blocks a mixed op choice point governs: the block as each of its ops builds it, with its slots. */
  private opAlternatives(choices: readonly number[], mixedOps: readonly number[]): Map<string, { unit: Unit; slotOf: SlotNamer }[]> {
    const alternatives = new Map<string, { unit: Unit; slotOf: SlotNamer }[]>();
    for (const index of mixedOps) {
      const point = this.space.choicePoints[index]!;
      if (point.field !== 'op' || (point.options as string[]).includes(ZERO_OP))
        throw new Error(`choice ${point.path} is not an op choice that can run mixed`);
      point.options.forEach((_, option) => {
        const variant = choices.map((c, i) => (i === index ? option : c));
        const places = this.space.blockPlaces(variant);
        const slotOf = slotNamer(this.space, places);
        for (const unit of resolve(this.member(variant)).units) {
          const place = places.get(unit.id);
          if (!place || place.stage !== point.stage || (point.layer !== null && place.position !== point.layer)) continue;
          alternatives.set(unit.id, [...(alternatives.get(unit.id) ?? []), { unit, slotOf }]);
        }
      });
    }
    return alternatives;
  }

  /**
   * A member's weights under its own layer names, as a model built from its spec names them
   * (`b3.dw/depthwise_kernel`, `b3.dw_bn/moving_mean`, ...): slices of the shared weights, with the
   * calibrated batch-norm statistics as moving averages.
   */
  memberWeights(choices: readonly number[], stats: BatchNormStats): NamedWeight[] {
    const net = resolve(this.member(choices));
    const slotOf = slotNamer(this.space, this.space.blockPlaces(choices));
    const weights: NamedWeight[] = [];
    const push = (name: string, t: tf.Tensor) => {
      weights.push({ name, shape: [...t.shape], values: t.dataSync() as Float32Array });
      t.dispose();
    };
    for (const unit of net.units) {
      for (const layer of unit.layers) {
        const slot = slotOf(unit, layer);
        if (layer.op === 'conv') {
          const { kernel, bias, gamma, beta } = this.convWeights(slot, layer);
          push(`${layer.name}/${layer.groups === 1 ? 'kernel' : 'depthwise_kernel'}`, kernel);
          if (bias) push(`${layer.name}/bias`, bias);
          if (layer.batchNorm) {
            const { mean, variance } = stats.get(layer.name);
            push(`${layer.name}_bn/gamma`, gamma!);
            push(`${layer.name}_bn/beta`, beta!);
            push(`${layer.name}_bn/moving_mean`, tf.tensor1d(mean));
            push(`${layer.name}_bn/moving_variance`, tf.tensor1d(variance));
          }
        } else if (layer.op === 'se') {
          const se = this.seWeights(slot, layer);
          for (const [role, t] of Object.entries(se)) push(`${layer.name}/${role}`, t);
        } else if (layer.op === 'dense') {
          const { kernel, bias } = this.denseWeights(slot, layer);
          push(`${layer.name}/kernel`, kernel);
          push(`${layer.name}/bias`, bias);
        }
      }
    }
    return weights;
  }

  /** Every shared weight by slot name (for checkpoints). */
  namedVariables(): { name: string; variable: tf.Variable }[] {
    return [...this.variables].map(([name, variable]) => ({ name, variable }));
  }

  /** Sets every shared weight from arrays by slot name (a checkpoint); `source` names the file in errors. */
  loadArrays(arrays: ReadonlyMap<string, Float32Array>, source: string): void {
    for (const [name, variable] of this.variables) {
      const values = arrays.get(name);
      if (!values || values.length !== variable.size) {
        throw new InputError(
          `${source}: no weights for ${name} of the right size: the checkpoint belongs to another supernet (another space or input); resume with the run's own experiment, or start a new run`,
        );
      }
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
    }
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }

  private applyLayer(slot: string, layer: Layer, x: tf.Tensor, bn: BatchNormMode, training: { dropoutSeed: number } | null): tf.Tensor {
    switch (layer.op) {
      case 'conv':
        return this.applyConv(slot, layer, x as tf.Tensor4D, bn);
      case 'se':
        return this.applySe(slot, layer, x as tf.Tensor4D);
      case 'global-avg-pool':
        return tf.mean(x, [1, 2]);
      case 'dropout':
        return training && layer.rate > 0 ? tf.dropout(x, layer.rate, undefined, training.dropoutSeed) : x;
      case 'dense': {
        const { kernel, bias } = this.denseWeights(slot, layer);
        const y = tf.add(tf.matMul(x as tf.Tensor2D, kernel), bias);
        return layer.activation ? applyActivation(y, layer.activation) : y;
      }
      default:
        throw new Error(`the supernet cannot run a ${layer.op} layer (${layer.name})`);
    }
  }

  private applyConv(slot: string, layer: ConvLayer, x: tf.Tensor4D, bn: BatchNormMode): tf.Tensor {
    const { kernel, bias, gamma, beta } = this.convWeights(slot, layer);
    const strides: [number, number] = [layer.stride, layer.stride];
    let y: tf.Tensor4D =
      layer.groups === 1
        ? tf.conv2d(x, kernel as tf.Tensor4D, strides, 'same')
        : tf.depthwiseConv2d(x, kernel as tf.Tensor4D, strides, 'same');
    if (bias) y = tf.add(y, bias) as tf.Tensor4D;
    if (layer.batchNorm) y = this.batchNorm(layer.name, y, gamma!, beta!, bn);
    return layer.activation ? applyActivation(y, layer.activation) : y;
  }

  private batchNorm(layerName: string, x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, bn: BatchNormMode): tf.Tensor4D {
    if (bn.kind === 'fixed') {
      const { mean, variance } = bn.stats.get(layerName);
      return tf.batchNorm4d(x, tf.tensor1d(mean), tf.tensor1d(variance), beta as tf.Tensor1D, gamma as tf.Tensor1D, this.bnEpsilon);
    }
    const { output, mean, variance } = normalizeInTraining(x, gamma, beta, this.bnEpsilon);
    if (bn.kind === 'calibrate') bn.stats.add(layerName, mean.dataSync() as Float32Array, variance.dataSync() as Float32Array);
    tf.dispose([mean, variance]);
    return output as tf.Tensor4D;
  }

  private applySe(slot: string, layer: SeLayer, x: tf.Tensor4D): tf.Tensor {
    const w = this.seWeights(slot, layer);
    const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
    const reduced = applyActivation(tf.add(tf.matMul(pooled, w.reduce_kernel as tf.Tensor2D), w.reduce_bias), layer.activation);
    const scale = applyActivation(tf.add(tf.matMul(reduced as tf.Tensor2D, w.expand_kernel as tf.Tensor2D), w.expand_bias), layer.gate);
    return tf.mul(x, tf.reshape(scale, [-1, 1, 1, layer.channels]));
  }

  /** A conv layer's weights: the centre `k x k` of the slot's kernel, leading channels. */
  private convWeights(slot: string, layer: ConvLayer) {
    const shape = this.shapes.get(slot)!;
    const offset = (shape.kernel - layer.kernel) / 2;
    const depthwise = layer.groups !== 1;
    const size = depthwise
      ? [layer.kernel, layer.kernel, layer.inChannels, 1]
      : [layer.kernel, layer.kernel, layer.inChannels, layer.outChannels];
    const kernel = tf.slice(this.weight(slot, depthwise ? 'depthwise_kernel' : 'kernel'), [offset, offset, 0, 0], size);
    const leading = (role: WeightRole) => tf.slice(this.weight(slot, role), [0], [layer.outChannels]);
    return {
      kernel,
      bias: layer.bias ? leading('bias') : null,
      gamma: layer.batchNorm ? leading('gamma') : null,
      beta: layer.batchNorm ? leading('beta') : null,
    };
  }

  private seWeights(slot: string, layer: SeLayer): Record<'reduce_kernel' | 'reduce_bias' | 'expand_kernel' | 'expand_bias', tf.Tensor> {
    const { channels: c, squeeze: s } = layer;
    return {
      reduce_kernel: tf.slice(this.weight(slot, 'reduce_kernel'), [0, 0], [c, s]),
      reduce_bias: tf.slice(this.weight(slot, 'reduce_bias'), [0], [s]),
      expand_kernel: tf.slice(this.weight(slot, 'expand_kernel'), [0, 0], [s, c]),
      expand_bias: tf.slice(this.weight(slot, 'expand_bias'), [0], [c]),
    };
  }

  private denseWeights(slot: string, layer: DenseLayer) {
    return {
      kernel: tf.slice(this.weight(slot, 'kernel'), [0, 0], [layer.inFeatures, layer.outFeatures]) as tf.Tensor2D,
      bias: tf.slice(this.weight(slot, 'bias'), [0], [layer.outFeatures]),
    };
  }

  private weight(slot: string, role: WeightRole): tf.Variable {
    const v = this.variables.get(`${slot}/${role}`);
    if (!v) throw new Error(`supernet has no weight ${slot}/${role}`);
    return v;
  }

  /**
   * Every unit any member can contain, each with the function naming its layers' slots: the stem
   * (each width), each stage's layers (for every input shape, op, kernel, SE, skip, width and
   * stride), the head.
   */
  private *walkSlots(resolution: number): Iterable<[(layer: Layer) => string, Layer[]]> {
    const space = this.space;
    const stems = space.stemUnits(resolution);
    for (const stem of stems) yield [(l) => l.name, stem.layers];
    let inputs = new Map<number, Shape>(stems.map((stem) => [stem.outShape[2], stem.outShape]));
    for (const [s, stage] of space.definition.stages.entries()) {
      const outputs = new Map<number, Shape>();
      for (const inShape of inputs.values()) {
        for (const variant of space.stageVariants(s, inShape)) {
          outputs.set(variant.outShape[2], variant.outShape);
          for (const [l, { units }] of variant.layers.entries())
            for (const unit of units) yield [(layer) => stageSlot(stage.id, l, unit, layer), unit.layers];
        }
      }
      inputs = outputs;
    }
    for (const inShape of inputs.values()) {
      for (const unit of space.headUnits(inShape, this.options.classes)) yield [(l) => l.name, unit.layers];
    }
  }

  private widen(slot: string, layer: Layer): void {
    const shape = slotShapeOf(layer);
    if (!shape) return;
    const seen = this.shapes.get(slot);
    if (!seen) {
      this.shapes.set(slot, shape);
      return;
    }
    seen.kernel = Math.max(seen.kernel, shape.kernel);
    seen.in = Math.max(seen.in, shape.in);
    seen.out = Math.max(seen.out, shape.out);
  }

  private createVariables(): void {
    for (const [slot, shape] of this.shapes) {
      const rng = derive(this.options.seed, 'supernet', slot);
      const seed = () => nextSeed(rng);
      for (const [role, init] of initialWeights(shape, seed)) {
        // A variable shares its initial tensor's data: disposing that tensor frees it at the first assign.
        const initial = tf.tidy(init);
        this.variables.set(`${slot}/${role}`, tf.variable(initial, true));
        initial.dispose();
      }
    }
  }
}

/** The slot of a layer of a stage: stage id, position in the stage, op family, role (`s3.1.bneck.dw`). */
function stageSlot(stageId: string, position: number, unit: Unit, layer: Layer): string {
  const role = layer.name.slice(layer.name.indexOf('.') + 1);
  return `${stageId}.${position}.${unit.kind}.${role}`;
}

/** For a member: each of its layers' slot (its blocks sit in their stages at the positions the space gives them). */
type SlotNamer = (unit: Unit, layer: Layer) => string;

/** How many op families (separate weights: conv, dsconv, the bottlenecks) a list of ops spans. */
function opFamilies(ops: readonly string[]): number {
  return new Set(ops.map((op) => (op.startsWith('mbconv') ? 'mbconv' : op))).size;
}

function slotNamer(space: ChoiceSpace, places: ReturnType<ChoiceSpace['blockPlaces']>): SlotNamer {
  return (unit, layer) => {
    const place = places.get(unit.id);
    return place ? stageSlot(space.definition.stages[place.stage]!.id, place.position, unit, layer) : layer.name;
  };
}

function slotShapeOf(layer: Layer): SlotShape | null {
  switch (layer.op) {
    case 'conv':
      return {
        kind: layer.groups === 1 ? 'conv' : 'depthwise',
        kernel: layer.kernel,
        in: layer.inChannels,
        out: layer.outChannels,
        batchNorm: layer.batchNorm,
        bias: layer.bias,
      };
    case 'se':
      return { kind: 'se', kernel: 1, in: layer.channels, out: layer.squeeze, batchNorm: false, bias: true };
    case 'dense':
      return { kind: 'dense', kernel: 1, in: layer.inFeatures, out: layer.outFeatures, batchNorm: false, bias: true };
    default:
      return null;
  }
}

type Initialiser = [WeightRole, () => tf.Tensor];

/** A slot's weights and their initialisation, as the model builder initialises the same layers. */
function initialWeights(shape: SlotShape, seed: () => number): Initialiser[] {
  const { kernel: k, in: cin, out } = shape;
  const heNormal = (dims: number[]) => () =>
    tf.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal', seed: seed() }).apply(dims);
  const zeros = (n: number) => () => tf.zeros([n]);
  const ones = (n: number) => () => tf.ones([n]);
  switch (shape.kind) {
    case 'conv':
    case 'depthwise': {
      const width = shape.kind === 'conv' ? out : cin;
      const dims = shape.kind === 'conv' ? [k, k, cin, out] : [k, k, cin, 1];
      const list: Initialiser[] = [[shape.kind === 'conv' ? 'kernel' : 'depthwise_kernel', heNormal(dims)]];
      if (shape.bias) list.push(['bias', zeros(width)]);
      if (shape.batchNorm) list.push(['gamma', ones(width)], ['beta', zeros(width)]);
      return list;
    }
    case 'se': {
      const glorot = (dims: number[]) => () =>
        tf.initializers.varianceScaling({ scale: 1, mode: 'fanAvg', distribution: 'uniform', seed: seed() }).apply(dims);
      return [
        ['reduce_kernel', glorot([cin, out])],
        ['reduce_bias', zeros(out)],
        ['expand_kernel', glorot([out, cin])],
        ['expand_bias', zeros(cin)],
      ];
    }
    case 'dense':
      return [
        ['kernel', () => tf.randomNormal([cin, out], 0, 0.01, 'float32', seed())],
        ['bias', zeros(out)],
      ];
  }
}
