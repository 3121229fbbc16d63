/**
 * What the latency estimator sees of an op.
 *
 * Features: the work of the unit that computes it (opUnit), split by the kind of kernel that does
 * it, plus its memory traffic and its kernel dispatches. Every feature is a count a runtime pays
 * per unit of (multiply-adds of 1x1, spatial and depthwise convolutions and of dense layers,
 * elements activated, gated or added, bytes moved, layers launched), so latency is close to a
 * non-negative combination of them; kernel, stride, widths, expansion and resolution enter through
 * the counts.
 *
 * Coordinates: where the op sits among the table's ops (log input size and widths, kernel, stride,
 * flags), for the estimator's smoothing of its residuals over similar ops.
 */
import type { Layer, Shape, Unit } from '../../search-space/resolve.js';
import type { OpDescriptor } from './ops.js';

export const ESTIMATOR_FEATURES = [
  /** One: a fixed cost per op (dispatch, kernel launch). */
  'const',
  /** Multiply-adds of 1x1 convolutions (expansion, projection, head conv). */
  'pointwiseMadds',
  /** Multiply-adds of full k x k convolutions (k > 1: the stem, conv blocks). */
  'spatialMadds',
  /** Multiply-adds of depthwise convolutions. */
  'depthwiseMadds',
  /** Multiply-adds of dense layers and of the squeeze-and-excite's two layers. */
  'denseMadds',
  /** Elements through ReLU or ReLU6. */
  'reluElements',
  /** Elements through hard-swish (or swish). */
  'hswishElements',
  /** Elements a squeeze-and-excite pools and rescales. */
  'seElements',
  /** Elements added by an identity shortcut. */
  'residualElements',
  /** Elements pooled or resized. */
  'poolElements',
  /** Activation bytes read and written (float32): every layer's input and output. */
  'activationBytes',
  /** Weight bytes read (float32): streamed once per op, the whole cost of a dense layer on a 1x1 map. */
  'weightBytes',
  /** Layers (each at least one kernel dispatch). */
  'layers',
  /** Layers activated by hard-swish (several elementwise kernels where it is not fused). */
  'hswishLayers',
  /** Squeeze-and-excite blocks (a pooling, two dense layers, a gate and a product each). */
  'seBlocks',
  /** Identity shortcuts (an add each). */
  'residualAdds',
] as const;

/** The coordinates of an op (opCoordinates) and the distance in each that counts as one unit of dissimilarity. */
export const ESTIMATOR_COORDINATES = [
  { name: 'logInputSize', scale: 0.35 },
  { name: 'logInputWidth', scale: 0.35 },
  { name: 'logOutputWidth', scale: 0.35 },
  { name: 'logExpansionWidth', scale: 0.35 },
  { name: 'kernel', scale: 2.5 },
  { name: 'stride', scale: 0.3 },
  { name: 'se', scale: 0.5 },
  { name: 'hswish', scale: 0.5 },
  { name: 'residual', scale: 0.5 },
] as const;

export type EstimatorFeature = (typeof ESTIMATOR_FEATURES)[number];

const index = Object.fromEntries(ESTIMATOR_FEATURES.map((name, i) => [name, i])) as Record<EstimatorFeature, number>;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const BYTES = 4;

/**
 * How matrix products are counted: by the kernel that computes them (`byKernel`), or every one as a
 * 1x1 convolution (`asGemm`: a dense layer's on a 1x1 map, a k x k convolution's over its im2col
 * patches of k*k*Cin channels, the patch matrix counted as memory moved), the one kind of work that
 * the blocks of every table show at every size.
 */
export type MaddsView = 'byKernel' | 'asGemm';

function addConv(f: number[], layer: Extract<Layer, { op: 'conv' }>, view: MaddsView): void {
  const out = size(layer.outShape);
  const patch = layer.kernel * layer.kernel * (layer.inChannels / layer.groups);
  const weights = patch * layer.outChannels;
  const pixels = layer.outShape[0] * layer.outShape[1];
  const madds = pixels * weights;
  const kind = layer.groups > 1 ? 'depthwiseMadds' : layer.kernel > 1 ? 'spatialMadds' : 'pointwiseMadds';
  if (view === 'asGemm' && kind === 'spatialMadds') {
    f[index.pointwiseMadds]! += madds;
    f[index.activationBytes]! += BYTES * pixels * patch;
  } else f[index[kind]]! += madds;
  addActivation(f, layer.activation, out);
  f[index.activationBytes]! += BYTES * (size(layer.inShape) + out);
  f[index.weightBytes]! += BYTES * weights;
}

function addActivation(f: number[], activation: string | null, elements: number): void {
  if (activation === 'relu' || activation === 'relu6') f[index.reluElements]! += elements;
  else if (activation === 'hswish' || activation === 'swish') {
    f[index.hswishElements]! += elements;
    f[index.hswishLayers]! += 1;
  }
}

function addLayer(f: number[], layer: Layer, view: MaddsView): void {
  const dense = index[view === 'asGemm' ? 'pointwiseMadds' : 'denseMadds'];
  switch (layer.op) {
    case 'conv':
      addConv(f, layer, view);
      return;
    case 'se': {
      const elements = size(layer.shape);
      f[index.seElements]! += elements;
      f[index.seBlocks]! += 1;
      f[dense]! += 2 * layer.channels * layer.squeeze;
      f[index.activationBytes]! += BYTES * 2 * elements;
      f[index.weightBytes]! += BYTES * 2 * layer.channels * layer.squeeze;
      return;
    }
    case 'dense':
      f[dense]! += layer.inFeatures * layer.outFeatures;
      addActivation(f, layer.activation, layer.outFeatures);
      f[index.activationBytes]! += BYTES * (layer.inFeatures + layer.outFeatures);
      f[index.weightBytes]! += BYTES * layer.inFeatures * layer.outFeatures;
      return;
    case 'global-avg-pool':
      f[index.poolElements]! += size(layer.inShape);
      f[index.activationBytes]! += BYTES * size(layer.inShape);
      return;
    case 'avg-pool':
    case 'resize':
      f[index.poolElements]! += size(layer.inShape) + size(layer.outShape);
      f[index.activationBytes]! += BYTES * (size(layer.inShape) + size(layer.outShape));
      return;
    case 'dropout':
      return;
  }
}

/** The features of a resolved unit (an op's: opUnit), in the order of ESTIMATOR_FEATURES. */
export function unitFeatures(unit: Unit, view: MaddsView = 'byKernel'): number[] {
  const f = new Array<number>(ESTIMATOR_FEATURES.length).fill(0);
  f[index.const] = 1;
  for (const layer of unit.layers) {
    addLayer(f, layer, view);
    if (layer.op !== 'dropout') f[index.layers]! += 1;
  }
  if (unit.residual) {
    f[index.residualAdds]! += 1;
    const out: Shape = unit.outShape;
    f[index.residualElements]! += size(out);
    f[index.activationBytes]! += BYTES * 2 * size(out);
  }
  return f;
}

/** The coordinates of an op, in the order of ESTIMATOR_COORDINATES (0 where a kind of op has none). */
export function opCoordinates(d: OpDescriptor): number[] {
  const out = 'out' in d ? d.out : d.in[2];
  const conv = d.op === 'conv' || d.op === 'dsconv' || d.op === 'bneck';
  const act = 'act' in d ? d.act : null;
  return [
    Math.log(d.in[0]),
    Math.log(d.in[2]),
    Math.log(out),
    d.op === 'bneck' ? Math.log(d.exp) : 0,
    conv ? d.kernel : 0,
    conv ? d.stride : 0,
    conv && d.se ? 1 : 0,
    act === 'hswish' || act === 'swish' ? 1 : 0,
    conv && d.residual ? 1 : 0,
  ];
}

/**
 * The traits of an op whose cost only entries with them show (an activation, a squeeze-and-excite,
 * a shortcut, a dilation): an estimate for an op with a trait no entry of its type has cannot know
 * what it costs.
 */
export function opTraits(d: OpDescriptor): string[] {
  const traits: string[] = [];
  const act = 'act' in d ? d.act : null;
  if (act) traits.push(act === 'relu' || act === 'relu6' ? 'relu' : 'hard-swish');
  if (d.op === 'conv' || d.op === 'dsconv' || d.op === 'bneck') {
    if (d.se) traits.push('squeeze-excite');
    if (d.residual) traits.push('shortcut');
    if ((d.dilation ?? 1) > 1) traits.push('dilation');
  }
  return traits;
}
