/**
 * Decodes an ArchSpec into concrete layers with shapes: the one walk over a spec that cost
 * accounting, the model builder and (later) latency keys all share.
 *
 * Convolutions use "same" padding: output size = ceil(input / stride), which equals PyTorch's
 * padding k//2 for the odd kernels the spec allows.
 */
import { CLASSIFIER_ID, layerName, type Activation, type ArchSpec, type Block, type SqueezeExcite, type Stem } from './archspec.js';

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
  const { resolution, channels } = spec.input;
  const units: Unit[] = [stemUnit(spec.stem, [resolution, resolution, channels])];
  const next = () => units[units.length - 1]!.outShape;
  for (const block of spec.blocks) units.push(blockUnit(block, next()));
  const head = spec.head;
  if (head.conv) units.push(headConvUnit(head.conv.id, head.conv.out, head.conv.activation, next()));
  units.push(poolUnit(next()));
  if (head.preLogits) units.push(denseUnit('pre-logits', head.preLogits.id, next()[2], head.preLogits.out, head.preLogits.activation));
  units.push(denseUnit('classifier', CLASSIFIER_ID, next()[2], spec.classes, null, spec.dropout));
  return { spec, units };
}

const plain = { exp: null, se: false, residual: false };

export function stemUnit(stem: Stem, inShape: Shape): Unit {
  const c = conv(layerName(stem.id), inShape, stem.out, stem.kernel, stem.stride, 1, stem.activation);
  return { ...plain, id: stem.id, kind: 'stem', kernel: stem.kernel, stride: stem.stride, inShape, outShape: c.outShape, activation: stem.activation, layers: [c] };
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
  return { ...plain, id, kind: 'head-conv', kernel: 1, stride: 1, inShape, outShape: c.outShape, activation, layers: [c] };
}

export function poolUnit(inShape: Shape): Unit {
  const pool: PoolLayer = { op: 'global-avg-pool', name: 'pool', inShape };
  return { ...plain, id: 'pool', kind: 'pool', kernel: inShape[0], stride: 1, inShape, outShape: [1, 1, inShape[2]], activation: null, layers: [pool] };
}

/** A dense layer after pooling (pre-logits or classifier, the latter with its dropout). */
export function denseUnit(kind: 'pre-logits' | 'classifier', id: string, inFeatures: number, out: number, activation: Activation | null, dropout = 0): Unit {
  const layers: Layer[] = dropout > 0 ? [{ op: 'dropout', name: 'dropout', rate: dropout }] : [];
  layers.push(dense(layerName(id), inFeatures, out, activation));
  return { ...plain, id, kind, kernel: 1, stride: 1, inShape: [1, 1, inFeatures], outShape: [1, 1, out], activation, layers };
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
