/**
 * Op decomposition: a spec becomes the list of ops a runtime executes as units (the stem conv, each
 * block whole, since runtimes fuse inside a block, the head conv, pooling, the dense layers), each
 * with a canonical key. Two specs that share a key share a latency measurement.
 *
 * Keys read like `bneck-in:56x56x24-exp:72-out:40-k:5-s:2-act:relu-se:24.hsigmoid.relu-res`:
 * op, input HxWxC, expansion width (bneck), output channels, kernel, stride, activation, the SE
 * squeeze width, gate and inner activation when present, `res` when there is an identity shortcut.
 * The stem and the head conv are `conv` ops, pooling is `pool-in:HxWxC`, the pre-logits and
 * classifier layers are `dense-in:C-out:K[-act:A]`.
 *
 * An op is a tagged union on `op`: each kind carries the fields its key and its unit need, and no
 * others.
 */

import type { ArchSpec } from '../../search-space/archspec.js';
import { ACTIVATIONS, type Activation, type Block, type Pooling, SE_GATES, type SqueezeExcite } from '../../search-space/archspec.js';
import {
  blockUnit,
  denseUnit,
  lrasppUnit,
  poolUnit,
  resolve,
  type Shape,
  ssdExtraUnit,
  ssdHeadUnit,
  type Unit,
} from '../../search-space/resolve.js';

/** The fields of a convolution unit: the stem, the head conv, a conv, dsconv or bneck block. */
interface ConvFields {
  /** Input height, width, channels. */
  in: Shape;
  out: number;
  kernel: number;
  stride: number;
  act: Activation;
  se: SqueezeExcite | null;
  residual: boolean;
  /** Spatial (kxk) conv dilation, when above 1. */
  dilation?: number;
}

export interface ConvOp extends ConvFields {
  op: 'conv';
}

export interface DsconvOp extends ConvFields {
  op: 'dsconv';
}

export interface BneckOp extends ConvFields {
  op: 'bneck';
  /** Expansion width. */
  exp: number;
}

export type ConvLikeOp = ConvOp | DsconvOp | BneckOp;

/** Global average pooling. */
export interface PoolOp {
  op: 'pool';
  in: Shape;
}

/** A pre-logits or classifier layer. */
export interface DenseOp {
  op: 'dense';
  /** 1 x 1 x features. */
  in: Shape;
  out: number;
  act: Activation | null;
}

/** The LR-ASPP decoder: the low-level features, the inner width, the attention pooling, the classes, the output size. */
export interface LrasppOp {
  op: 'lraspp';
  in: Shape;
  low: Shape;
  inter: number;
  pooling: Pooling;
  out: number;
  outSize: readonly [number, number];
}

/** An SSDLite extra feature layer. */
export interface SsdExtraOp {
  op: 'ssdextra';
  in: Shape;
  out: number;
}

/** SSDLite predictors on one feature map: anchors per location, `out` classes. */
export interface SsdHeadOp {
  op: 'ssdhead';
  in: Shape;
  out: number;
  anchors: number;
}

export type OpDescriptor = ConvOp | DsconvOp | BneckOp | PoolOp | DenseOp | LrasppOp | SsdExtraOp | SsdHeadOp;
export type OpKind = OpDescriptor['op'];

export const OP_KINDS: readonly OpKind[] = ['conv', 'dsconv', 'bneck', 'pool', 'dense', 'lraspp', 'ssdextra', 'ssdhead'];

/** An op of a particular spec: the unit it came from and its key. */
export interface SpecOp {
  id: string;
  key: string;
  op: OpDescriptor;
}

const shapeText = (s: readonly number[]) => s.join('x');
const poolingText = (p: Pooling) => (p.type === 'global' ? 'global' : `avg.${p.kernel.join('x')}.${p.stride.join('x')}`);

export function opKey(d: OpDescriptor): string {
  const shape = shapeText(d.in);
  switch (d.op) {
    case 'pool':
      return `pool-in:${shape}`;
    case 'lraspp':
      return `lraspp-in:${shape}-low:${shapeText(d.low)}-inter:${d.inter}-out:${d.out}-pool:${poolingText(d.pooling)}-size:${shapeText(d.outSize)}`;
    case 'ssdextra':
      return `ssdextra-in:${shape}-out:${d.out}`;
    case 'ssdhead':
      return `ssdhead-in:${shape}-anchors:${d.anchors}-out:${d.out}`;
    case 'dense':
      return `dense-in:${d.in[2]}-out:${d.out}${d.act ? `-act:${d.act}` : ''}`;
    default:
      return convKey(d);
  }
}

function convKey(d: ConvLikeOp): string {
  const parts = [`${d.op}-in:${shapeText(d.in)}`];
  if (d.op === 'bneck') parts.push(`exp:${d.exp}`);
  parts.push(`out:${d.out}`, `k:${d.kernel}`, `s:${d.stride}`);
  if ((d.dilation ?? 1) > 1) parts.push(`d:${d.dilation}`);
  parts.push(`act:${d.act}`);
  if (d.se) parts.push(`se:${d.se.squeeze}.${d.se.gate}.${d.se.activation}`);
  if (d.residual) parts.push('res');
  return parts.join('-');
}

const KEY_FIELD = /^(in|exp|out|k|s|d|act|se|low|inter|pool|size|anchors):(.+)$/;

const isActivation = (text: string | undefined): text is Activation => (ACTIVATIONS as readonly (string | undefined)[]).includes(text);
const isGate = (text: string | undefined): text is SqueezeExcite['gate'] => (SE_GATES as readonly (string | undefined)[]).includes(text);

/** The fields every key may have, checked: its `name:value` pairs, `res`, the input, the activation, the SE. */
interface KeyFields {
  values: Map<string, string>;
  residual: boolean;
  input: Shape;
  act: Activation | undefined;
  se: SqueezeExcite | null;
}

/** Parses a canonical key back into its descriptor; null when it is not one. */
export function parseOpKey(key: string): OpDescriptor | null {
  const [name, ...rest] = key.split('-');
  const kind = OP_KINDS.find((k) => k === name);
  const fields = kind ? keyFields(kind, rest) : null;
  if (!kind || !fields) return null;
  const out = positiveInt(fields.values.get('out'));
  switch (kind) {
    case 'pool':
      return { op: kind, in: fields.input };
    case 'dense':
      return out === null ? null : { op: kind, in: fields.input, out, act: fields.act ?? null };
    case 'lraspp':
      return lrasppFromKey(fields);
    case 'ssdextra':
      return out === null ? null : { op: kind, in: fields.input, out };
    case 'ssdhead': {
      const anchors = positiveInt(fields.values.get('anchors'));
      return out === null || anchors === null ? null : { op: kind, in: fields.input, out, anchors };
    }
    default:
      return convFromKey(kind, fields);
  }
}

/** The fields after a key's op name; null when one is malformed (for any kind of op). */
function keyFields(kind: OpKind, fields: readonly string[]): KeyFields | null {
  const values = new Map<string, string>();
  let residual = false;
  for (const field of fields) {
    if (field === 'res') {
      residual = true;
      continue;
    }
    const m = KEY_FIELD.exec(field);
    if (!m) return null;
    values.set(m[1]!, m[2]!);
  }
  const act = values.get('act');
  if (act !== undefined && !isActivation(act)) return null;
  const se = values.has('se') ? seFromKey(values.get('se')) : null;
  // A dense op's input is its feature count.
  const input = kind === 'dense' ? features(values.get('in')) : shapeOf(values.get('in'));
  if (se === undefined || !input) return null;
  return { values, residual, input, act, se };
}

/** `squeeze.gate.activation`; undefined when malformed. */
function seFromKey(text: string | undefined): SqueezeExcite | undefined {
  const [squeeze, gate, activation] = (text ?? '').split('.');
  if (!Number(squeeze) || !isGate(gate) || !isActivation(activation)) return undefined;
  return { squeeze: Number(squeeze), gate, activation };
}

function positiveInt(text: string | undefined): number | null {
  const v = Number(text);
  return Number.isInteger(v) && v > 0 ? v : null;
}

/** `AxBx...` as positive integers; null when one is not. */
function positiveInts(text: string | undefined): number[] | null {
  const parts = (text ?? '').split('x').map(Number);
  return parts.every((d) => Number.isInteger(d) && d > 0) ? parts : null;
}

function shapeOf(text: string | undefined): Shape | null {
  const [h, w, c, ...more] = positiveInts(text) ?? [];
  return h && w && c && !more.length ? [h, w, c] : null;
}

function sizeOf(text: string | undefined): readonly [number, number] | null {
  const [h, w, ...more] = positiveInts(text) ?? [];
  return h && w && !more.length ? [h, w] : null;
}

function features(text: string | undefined): Shape | null {
  const c = positiveInt(text);
  return c === null ? null : [1, 1, c];
}

function poolingOf(text: string): Pooling | null {
  if (text === 'global') return { type: 'global' };
  const avg = /^avg\.(\d+)x(\d+)\.(\d+)x(\d+)$/.exec(text);
  return avg ? { type: 'avg', kernel: [Number(avg[1]), Number(avg[2])], stride: [Number(avg[3]), Number(avg[4])] } : null;
}

function lrasppFromKey({ values, input }: KeyFields): LrasppOp | null {
  const low = shapeOf(values.get('low'));
  const outSize = sizeOf(values.get('size'));
  const pooling = poolingOf(values.get('pool') ?? '');
  const out = positiveInt(values.get('out'));
  const inter = positiveInt(values.get('inter'));
  if (!low || !outSize || !pooling || out === null || inter === null) return null;
  return { op: 'lraspp', in: input, low, inter, pooling, out, outSize };
}

function convFromKey(kind: ConvLikeOp['op'], { values, residual, input, act, se }: KeyFields): ConvLikeOp | null {
  const out = positiveInt(values.get('out'));
  const kernel = positiveInt(values.get('k'));
  const stride = positiveInt(values.get('s'));
  if (out === null || kernel === null || stride === null || act === undefined) return null;
  const fields: ConvFields = { in: input, out, kernel, stride, act, se, residual };
  if (values.has('d')) {
    const dilation = positiveInt(values.get('d'));
    if (dilation === null) return null;
    fields.dilation = dilation;
  }
  if (kind !== 'bneck') return { op: kind, ...fields };
  const exp = positiveInt(values.get('exp'));
  return exp === null ? null : { op: kind, ...fields, exp };
}

/** The descriptor of one resolved unit. */
export function unitOp(unit: Unit): OpDescriptor {
  switch (unit.kind) {
    case 'stem':
    case 'head-conv':
    case 'conv':
    case 'dsconv':
    case 'bneck':
      return convUnitOp(unit);
    case 'pool':
      return { op: 'pool', in: unit.inShape };
    case 'pre-logits':
    case 'classifier':
      return { op: 'dense', in: unit.inShape, out: unit.outShape[2], act: unit.activation };
    case 'lraspp': {
      const d = unit.lraspp!;
      return { op: 'lraspp', in: unit.inShape, low: d.low, inter: d.inter, pooling: d.pooling, out: d.classes, outSize: d.outSize };
    }
    case 'ssd-extra':
      return { op: 'ssdextra', in: unit.inShape, out: unit.outShape[2] };
    case 'ssd-head':
      return { op: 'ssdhead', in: unit.inShape, out: unit.ssd!.classes, anchors: unit.ssd!.anchors };
  }
}

function convUnitOp(unit: Unit): ConvLikeOp {
  // Built field by field: this runs for every unit of every spec a search prices.
  const fields: ConvFields = {
    in: unit.inShape,
    out: unit.outShape[2],
    kernel: unit.kernel,
    stride: unit.stride,
    act: unit.activation!,
    se: null,
    residual: unit.residual,
  };
  let spatialSeen = false;
  for (const layer of unit.layers) {
    if (layer.op === 'conv' && layer.kernel > 1 && !spatialSeen) {
      spatialSeen = true;
      if (layer.dilation > 1) fields.dilation = layer.dilation;
    }
    if (layer.op === 'se' && !fields.se) fields.se = { squeeze: layer.squeeze, gate: layer.gate, activation: layer.activation };
  }
  if (unit.kind === 'bneck') return { op: 'bneck', ...fields, exp: unit.exp! };
  return { op: unit.kind === 'dsconv' ? 'dsconv' : 'conv', ...fields };
}

/** The ops of a spec, in execution order. */
export function specOps(spec: ArchSpec): SpecOp[] {
  return resolve(spec).units.map((unit) => {
    const op = unitOp(unit);
    return { id: unit.id, key: opKey(op), op };
  });
}

/** A unit that computes exactly the op (for profiling it alone). */
export function opUnit(d: OpDescriptor): Unit {
  switch (d.op) {
    case 'pool':
      return poolUnit(d.in);
    case 'dense':
      return denseUnit('pre-logits', 'op', d.in[2], d.out, d.act);
    case 'lraspp':
      return lrasppUnit(
        { type: 'segmentation', decoder: 'lraspp', lowStride: 1, highStride: 1, interChannels: d.inter, pooling: d.pooling },
        d.in,
        d.low,
        d.out,
        d.outSize,
      );
    case 'ssdextra':
      return ssdExtraUnit('op', d.in, d.out);
    case 'ssdhead':
      return ssdHeadUnit('op', { name: 'features', shape: d.in }, d.anchors, d.out);
    default:
      return blockUnit(convBlock(d), d.in);
  }
}

/** The block that computes a convolution op. Keys are parsed as any positive integers; blocks take the spec's values. */
function convBlock(d: ConvLikeOp): Block {
  const dilation = (d.dilation ?? 1) > 1 ? { dilation: d.dilation as Block['dilation'] } : {};
  const common = {
    id: 'op',
    kernel: d.kernel as Block['kernel'],
    stride: d.stride as Block['stride'],
    out: d.out,
    activation: d.act,
    se: d.se,
    residual: d.residual,
    ...dilation,
  };
  return d.op === 'bneck' ? { type: 'bneck', ...common, exp: d.exp } : { type: d.op, ...common };
}
