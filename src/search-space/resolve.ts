/**
 * Decodes an ArchSpec into concrete layers with shapes: the one walk over a spec that cost
 * accounting, the model builder and (later) latency keys all share.
 *
 * Convolutions use "same" padding: output size = ceil(input / stride), which equals PyTorch's
 * padding k//2 for the odd kernels the spec allows.
 */
import {
  type Activation,
  type ArchSpec,
  type Block,
  CLASSIFIER_ID,
  type DetectionTask,
  layerName,
  type Pooling,
  type SegmentationTask,
  type SqueezeExcite,
  type Stem,
} from './archspec.js';

/** Height, width, channels. */
export type Shape = readonly [number, number, number];

/** Activations of resolved layers: the spec's, plus the sigmoid of LR-ASPP's attention branch. */
export type LayerActivation = Activation | 'sigmoid';

export interface ConvLayer {
  op: 'conv';
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  dilation: number;
  /** 1 for a regular conv, inChannels for a depthwise conv. */
  groups: number;
  bias: boolean;
  batchNorm: boolean;
  activation: LayerActivation | null;
  inShape: Shape;
  outShape: Shape;
}

export interface SeLayer {
  op: 'se';
  name: string;
  channels: number;
  squeeze: number;
  activation: Activation;
  gate: SqueezeExcite['gate'];
  shape: Shape;
}

export interface PoolLayer {
  op: 'global-avg-pool';
  name: string;
  inShape: Shape;
}

export interface DenseLayer {
  op: 'dense';
  name: string;
  inFeatures: number;
  outFeatures: number;
  activation: Activation | null;
}

export interface DropoutLayer {
  op: 'dropout';
  name: string;
  rate: number;
}

/** Average pooling with a window (LR-ASPP's large-kernel attention pooling), 'valid' padding. */
export interface AvgPoolLayer {
  op: 'avg-pool';
  name: string;
  kernel: readonly [number, number];
  stride: readonly [number, number];
  inShape: Shape;
  outShape: Shape;
}

/** Bilinear resizing to another spatial size. */
export interface ResizeLayer {
  op: 'resize';
  name: string;
  inShape: Shape;
  outShape: Shape;
}

export type Layer = ConvLayer | SeLayer | PoolLayer | DenseLayer | DropoutLayer | AvgPoolLayer | ResizeLayer;

export type UnitKind = 'stem' | Block['type'] | 'head-conv' | 'pool' | 'pre-logits' | 'classifier' | 'lraspp' | 'ssd-extra' | 'ssd-head';

/** One row of the paper's tables: the stem, a block, or a head layer, with its sub-layers. */
export interface Unit {
  id: string;
  kind: UnitKind;
  kernel: number;
  stride: number;
  inShape: Shape;
  outShape: Shape;
  /** Expansion width (bneck), or the depthwise width (dsconv); null elsewhere. */
  exp: number | null;
  se: boolean;
  activation: Activation | null;
  /** Output is added to the unit's input. */
  residual: boolean;
  layers: Layer[];
  /** Decoder units: the named features they read (default: the previous unit's output). */
  inputs?: string[];
  /** LR-ASPP: the low-level features' shape and the decoder's settings. */
  lraspp?: { low: Shape; inter: number; classes: number; pooling: Pooling; outSize: readonly [number, number] };
  /** SSDLite predictor: anchors per location and classes (with background). */
  ssd?: { anchors: number; classes: number };
}

/** Features a decoder reads: a unit's output, or the output of one of its layers (the expansion). */
export interface Tap {
  name: string;
  unit: number;
  /** Index of the layer inside the unit whose output is tapped; null for the unit's output. */
  layer: number | null;
  shape: Shape;
  outputStride: number;
}

export interface ResolvedNet {
  spec: ArchSpec;
  units: Unit[];
  /** Named features decoder units read. */
  taps: Tap[];
}

const outSize = (size: number, stride: number) => Math.ceil(size / stride);

export function resolve(spec: ArchSpec): ResolvedNet {
  const { resolution, channels } = spec.input;
  const units: Unit[] = [stemUnit(spec.stem, [resolution, resolution, channels])];
  const next = () => units[units.length - 1]!.outShape;
  for (const block of spec.blocks) units.push(blockUnit(block, next()));
  const head = spec.head;
  if (head.conv) units.push(headConvUnit(head.conv.id, head.conv.out, head.conv.activation, next()));
  const task = spec.task ?? { type: 'classification' };
  if (task.type === 'segmentation') {
    const taps = [featureTap(units, 'low', task.lowStride, 'output')];
    units.push(lrasppUnit(task, next(), taps[0]!.shape, spec.classes, [resolution, resolution]));
    return { spec, units, taps };
  }
  if (task.type === 'detection') return detectionNet(spec, task, units);
  units.push(poolUnit(next()));
  if (head.preLogits) units.push(denseUnit('pre-logits', head.preLogits.id, next()[2], head.preLogits.out, head.preLogits.activation));
  units.push(denseUnit('classifier', CLASSIFIER_ID, next()[2], spec.classes, null, spec.dropout));
  return { spec, units, taps: [] };
}

/** Output stride of every unit's output (the product of the strides so far). */
function outputStrides(units: readonly Unit[]): number[] {
  let stride = 1;
  return units.map((u) => (stride *= u.stride));
}

/**
 * The features at an output stride: `output`, the last unit output there; `expansion`, the
 * expansion conv of the stride-2 bottleneck leaving it (SSDLite's C4 tap).
 */
function featureTap(units: readonly Unit[], name: string, stride: number, layer: 'output' | 'expansion'): Tap {
  const strides = outputStrides(units);
  if (layer === 'output') {
    const index = strides.lastIndexOf(stride);
    return { name, unit: index, layer: null, shape: units[index]!.outShape, outputStride: stride };
  }
  const index = units.findIndex((u, i) => u.kind === 'bneck' && u.stride === 2 && i > 0 && strides[i - 1] === stride);
  const expand = units[index]!.layers[0] as ConvLayer;
  return { name, unit: index, layer: 0, shape: expand.outShape, outputStride: stride };
}

/** LR-ASPP (MobileNetV3 section 6.4): attention-gated 1x1 features at stride 16 plus a stride-8 skip. */
export function lrasppUnit(task: SegmentationTask, high: Shape, low: Shape, classes: number, outSize: readonly [number, number]): Unit {
  const id = 'lraspp';
  const inter = task.interChannels;
  const pooled: Shape =
    task.pooling.type === 'global'
      ? [1, 1, high[2]]
      : [
          Math.floor((high[0] - task.pooling.kernel[0]) / task.pooling.stride[0]) + 1,
          Math.floor((high[1] - task.pooling.kernel[1]) / task.pooling.stride[1]) + 1,
          high[2],
        ];
  const cbr = conv(layerName(id, 'cbr'), high, inter, 1, 1, 1, 'relu');
  const pool: Layer =
    task.pooling.type === 'global'
      ? { op: 'global-avg-pool', name: layerName(id, 'pool'), inShape: high }
      : {
          op: 'avg-pool',
          name: layerName(id, 'pool'),
          kernel: task.pooling.kernel,
          stride: task.pooling.stride,
          inShape: high,
          outShape: pooled,
        };
  const scale = conv(layerName(id, 'scale'), pooled, inter, 1, 1, 1, 'sigmoid', { batchNorm: false });
  const atLow: Shape = [low[0], low[1], inter];
  const layers: Layer[] = [
    cbr,
    pool,
    scale,
    { op: 'resize', name: layerName(id, 'up'), inShape: cbr.outShape, outShape: atLow },
    conv(layerName(id, 'high_classifier'), atLow, classes, 1, 1, 1, null, { batchNorm: false, bias: true }),
    conv(layerName(id, 'low_classifier'), low, classes, 1, 1, 1, null, { batchNorm: false, bias: true }),
    { op: 'resize', name: layerName(id, 'out'), inShape: [low[0], low[1], classes], outShape: [outSize[0], outSize[1], classes] },
  ];
  return {
    ...plain,
    id,
    kind: 'lraspp',
    kernel: 1,
    stride: 1,
    inShape: high,
    outShape: [outSize[0], outSize[1], classes],
    activation: null,
    layers,
    inputs: ['previous', 'low'],
    lraspp: { low, inter, classes, pooling: task.pooling, outSize },
  };
}

/** Anchors per location of SSD's default box generator: two for ratio 1, two per other ratio. */
export function anchorsPerLocation(task: DetectionTask): number {
  return 2 + 2 * task.aspectRatios.length;
}

function detectionNet(spec: ArchSpec, task: DetectionTask, units: Unit[]): ResolvedNet {
  const taps = task.taps.map((t, i) => featureTap(units, `tap${i}`, t.stride, t.layer));
  let stride = taps[taps.length - 1]!.outputStride;
  let shape = taps[taps.length - 1]!.shape;
  task.extraWidths.forEach((width, i) => {
    const unit = ssdExtraUnit(`extra${i + 1}`, shape, width);
    units.push(unit);
    stride *= 2;
    taps.push({ name: `extra${i + 1}`, unit: units.length - 1, layer: null, shape: unit.outShape, outputStride: stride });
    shape = unit.outShape;
  });
  const anchors = anchorsPerLocation(task);
  taps.forEach((tap, i) => {
    units.push(ssdHeadUnit(`ssd_head${i + 1}`, tap, anchors, spec.classes));
  });
  return { spec, units, taps };
}

/** SSDLite extra feature layer: 1x1 to half the width, 3x3 depthwise stride 2, 1x1 to the width (ReLU6). */
export function ssdExtraUnit(id: string, inShape: Shape, width: number): Unit {
  const half = Math.floor(width / 2);
  const a = conv(layerName(id, 'reduce'), inShape, half, 1, 1, 1, 'relu6');
  const b = conv(layerName(id, 'dw'), a.outShape, half, 3, 2, half, 'relu6');
  const c = conv(layerName(id, 'expand'), b.outShape, width, 1, 1, 1, 'relu6');
  return { ...plain, id, kind: 'ssd-extra', kernel: 3, stride: 2, inShape, outShape: c.outShape, activation: 'relu6', layers: [a, b, c] };
}

/** SSDLite predictors on one feature map: class and box branches, each 3x3 depthwise + BN + ReLU6, 1x1 conv. */
export function ssdHeadUnit(id: string, tap: Pick<Tap, 'name' | 'shape'>, anchors: number, classes: number): Unit {
  const s = tap.shape;
  const layers: Layer[] = [
    conv(layerName(id, 'cls_dw'), s, s[2], 3, 1, s[2], 'relu6'),
    conv(layerName(id, 'cls'), s, anchors * classes, 1, 1, 1, null, { batchNorm: false, bias: true }),
    conv(layerName(id, 'box_dw'), s, s[2], 3, 1, s[2], 'relu6'),
    conv(layerName(id, 'box'), s, anchors * 4, 1, 1, 1, null, { batchNorm: false, bias: true }),
  ];
  return {
    ...plain,
    id,
    kind: 'ssd-head',
    kernel: 3,
    stride: 1,
    inShape: s,
    outShape: [s[0], s[1], anchors * (classes + 4)],
    activation: 'relu6',
    layers,
    inputs: [tap.name],
    ssd: { anchors, classes },
  };
}

const plain = { exp: null, se: false, residual: false };

export function stemUnit(stem: Stem, inShape: Shape): Unit {
  const c = conv(layerName(stem.id), inShape, stem.out, stem.kernel, stem.stride, 1, stem.activation);
  return {
    exp: null,
    se: false,
    residual: false,
    id: stem.id,
    kind: 'stem',
    kernel: stem.kernel,
    stride: stem.stride,
    inShape,
    outShape: c.outShape,
    activation: stem.activation,
    layers: [c],
  };
}

export function blockUnit(block: Block, inShape: Shape): Unit {
  const layers = blockLayers(block, inShape);
  return {
    id: block.id,
    kind: block.type,
    kernel: block.kernel,
    stride: block.stride,
    inShape,
    outShape: lastConv(layers).outShape,
    exp: block.type === 'bneck' ? block.exp : block.type === 'dsconv' ? inShape[2] : null,
    se: block.se !== null,
    activation: block.activation,
    residual: block.residual,
    layers,
  };
}

export function headConvUnit(id: string, out: number, activation: Activation, inShape: Shape): Unit {
  const c = conv(layerName(id), inShape, out, 1, 1, 1, activation);
  return {
    exp: null,
    se: false,
    residual: false,
    id,
    kind: 'head-conv',
    kernel: 1,
    stride: 1,
    inShape,
    outShape: c.outShape,
    activation,
    layers: [c],
  };
}

export function poolUnit(inShape: Shape): Unit {
  const pool: PoolLayer = { op: 'global-avg-pool', name: 'pool', inShape };
  return {
    exp: null,
    se: false,
    residual: false,
    id: 'pool',
    kind: 'pool',
    kernel: inShape[0],
    stride: 1,
    inShape,
    outShape: [1, 1, inShape[2]],
    activation: null,
    layers: [pool],
  };
}

/** A dense layer after pooling (pre-logits or classifier, the latter with its dropout). */
export function denseUnit(
  kind: 'pre-logits' | 'classifier',
  id: string,
  inFeatures: number,
  out: number,
  activation: Activation | null,
  dropout = 0,
): Unit {
  const layers: Layer[] = dropout > 0 ? [{ op: 'dropout', name: 'dropout', rate: dropout }] : [];
  layers.push(dense(layerName(id), inFeatures, out, activation));
  return {
    exp: null,
    se: false,
    residual: false,
    id,
    kind,
    kernel: 1,
    stride: 1,
    inShape: [1, 1, inFeatures],
    outShape: [1, 1, out],
    activation,
    layers,
  };
}

function blockLayers(block: Block, inShape: Shape): Layer[] {
  const { id, kernel, stride, activation } = block;
  const dilation = block.dilation ?? 1;
  const layers: Layer[] = [];
  let shape = inShape;
  const push = (layer: ConvLayer | SeLayer) => {
    layers.push(layer);
    if (layer.op === 'conv') shape = layer.outShape;
  };
  switch (block.type) {
    case 'conv':
      push(conv(layerName(id, 'conv'), shape, block.out, kernel, stride, 1, activation, { dilation }));
      if (block.se) push(se(layerName(id, 'se'), shape, block.se));
      break;
    case 'dsconv':
      push(conv(layerName(id, 'dw'), shape, shape[2], kernel, stride, shape[2], activation, { dilation }));
      if (block.se) push(se(layerName(id, 'se'), shape, block.se));
      push(conv(layerName(id, 'project'), shape, block.out, 1, 1, 1, null));
      break;
    case 'bneck':
      push(conv(layerName(id, 'expand'), shape, block.exp, 1, 1, 1, activation));
      push(conv(layerName(id, 'dw'), shape, block.exp, kernel, stride, block.exp, activation, { dilation }));
      if (block.se) push(se(layerName(id, 'se'), shape, block.se));
      push(conv(layerName(id, 'project'), shape, block.out, 1, 1, 1, null));
      break;
  }
  return layers;
}

function conv(
  name: string,
  inShape: Shape,
  outChannels: number,
  kernel: number,
  stride: number,
  groups: number,
  activation: LayerActivation | null,
  options: { dilation?: number; bias?: boolean; batchNorm?: boolean } = {},
): ConvLayer {
  const outShape: Shape = [outSize(inShape[0], stride), outSize(inShape[1], stride), outChannels];
  const { dilation = 1, bias = false, batchNorm = true } = options;
  return {
    op: 'conv',
    name,
    inChannels: inShape[2],
    outChannels,
    kernel,
    stride,
    dilation,
    groups,
    bias,
    batchNorm,
    activation,
    inShape,
    outShape,
  };
}

function se(name: string, shape: Shape, spec: SqueezeExcite): SeLayer {
  return { op: 'se', name, channels: shape[2], squeeze: spec.squeeze, activation: spec.activation, gate: spec.gate, shape };
}

function dense(name: string, inFeatures: number, outFeatures: number, activation: Activation | null): DenseLayer {
  return { op: 'dense', name, inFeatures, outFeatures, activation };
}

function lastConv(layers: Layer[]): ConvLayer {
  const convs = layers.filter((layer): layer is ConvLayer => layer.op === 'conv');
  return convs[convs.length - 1]!;
}
