/**
 * Decodes an ArchSpec into concrete layers with shapes: the one walk over a spec that cost
 * accounting, the model builder and (later) latency keys all share.
 *
 * Convolutions use "same" padding: output size = ceil(input / stride), which equals PyTorch's
 * padding k//2 for the odd kernels the spec allows.
 */
import { CLASSIFIER_ID, layerName, type Activation, type ArchSpec, type Block, type SqueezeExcite } from './archspec.js';

/** Height, width, channels. */
export type Shape = readonly [number, number, number];

export interface ConvLayer {
  op: 'conv';
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  /** 1 for a regular conv, inChannels for a depthwise conv. */
  groups: number;
  bias: boolean;
  batchNorm: boolean;
  activation: Activation | null;
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

export type Layer = ConvLayer | SeLayer | PoolLayer | DenseLayer | DropoutLayer;

export type UnitKind = 'stem' | Block['type'] | 'head-conv' | 'pool' | 'pre-logits' | 'classifier';

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
}

export interface ResolvedNet {
  spec: ArchSpec;
  units: Unit[];
}

const outSize = (size: number, stride: number) => Math.ceil(size / stride);

export function resolve(spec: ArchSpec): ResolvedNet {
  const units: Unit[] = [];
  const { resolution, channels } = spec.input;
  let shape: Shape = [resolution, resolution, channels];
  const plain = { exp: null, se: false, residual: false };

  const stem = spec.stem;
  const stemConv = conv(layerName(stem.id), shape, stem.out, stem.kernel, stem.stride, 1, stem.activation);
  units.push({ ...plain, id: stem.id, kind: 'stem', kernel: stem.kernel, stride: stem.stride, inShape: shape, outShape: stemConv.outShape, activation: stem.activation, layers: [stemConv] });
  shape = stemConv.outShape;

  for (const block of spec.blocks) {
    const layers = blockLayers(block, shape);
    const outShape = lastConv(layers).outShape;
    const exp = block.type === 'bneck' ? block.exp : block.type === 'dsconv' ? shape[2] : null;
    units.push({
      id: block.id,
      kind: block.type,
      kernel: block.kernel,
      stride: block.stride,
      inShape: shape,
      outShape,
      exp,
      se: block.se !== null,
      activation: block.activation,
      residual: block.residual,
      layers,
    });
    shape = outShape;
  }

  const head = spec.head;
  if (head.conv) {
    const c = conv(layerName(head.conv.id), shape, head.conv.out, 1, 1, 1, head.conv.activation);
    units.push({ ...plain, id: head.conv.id, kind: 'head-conv', kernel: 1, stride: 1, inShape: shape, outShape: c.outShape, activation: c.activation, layers: [c] });
    shape = c.outShape;
  }
  const pooled: Shape = [1, 1, shape[2]];
  const pool: PoolLayer = { op: 'global-avg-pool', name: 'pool', inShape: shape };
  units.push({ ...plain, id: 'pool', kind: 'pool', kernel: shape[0], stride: 1, inShape: shape, outShape: pooled, activation: null, layers: [pool] });
  shape = pooled;
  if (head.preLogits) {
    const d = dense(layerName(head.preLogits.id), shape[2], head.preLogits.out, head.preLogits.activation);
    const outShape: Shape = [1, 1, d.outFeatures];
    units.push({ ...plain, id: head.preLogits.id, kind: 'pre-logits', kernel: 1, stride: 1, inShape: shape, outShape, activation: d.activation, layers: [d] });
    shape = outShape;
  }
  const classifierLayers: Layer[] = [];
  if (spec.dropout > 0) classifierLayers.push({ op: 'dropout', name: 'dropout', rate: spec.dropout });
  classifierLayers.push(dense(CLASSIFIER_ID, shape[2], spec.classes, null));
  units.push({ ...plain, id: CLASSIFIER_ID, kind: 'classifier', kernel: 1, stride: 1, inShape: shape, outShape: [1, 1, spec.classes], activation: null, layers: classifierLayers });

  return { spec, units };
}

function blockLayers(block: Block, inShape: Shape): Layer[] {
  const { id, kernel, stride, activation } = block;
  const layers: Layer[] = [];
  let shape = inShape;
  const push = (layer: ConvLayer | SeLayer) => {
    layers.push(layer);
    if (layer.op === 'conv') shape = layer.outShape;
  };
  switch (block.type) {
    case 'conv':
      push(conv(layerName(id, 'conv'), shape, block.out, kernel, stride, 1, activation));
      if (block.se) push(se(layerName(id, 'se'), shape, block.se));
      break;
    case 'dsconv':
      push(conv(layerName(id, 'dw'), shape, shape[2], kernel, stride, shape[2], activation));
      if (block.se) push(se(layerName(id, 'se'), shape, block.se));
      push(conv(layerName(id, 'project'), shape, block.out, 1, 1, 1, null));
      break;
    case 'bneck':
      push(conv(layerName(id, 'expand'), shape, block.exp, 1, 1, 1, activation));
      push(conv(layerName(id, 'dw'), shape, block.exp, kernel, stride, block.exp, activation));
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
  activation: Activation | null,
): ConvLayer {
  const outShape: Shape = [outSize(inShape[0], stride), outSize(inShape[1], stride), outChannels];
  return { op: 'conv', name, inChannels: inShape[2], outChannels, kernel, stride, groups, bias: false, batchNorm: true, activation, inShape, outShape };
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
