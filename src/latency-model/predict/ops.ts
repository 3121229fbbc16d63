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

export type OpKind = 'conv' | 'dsconv' | 'bneck' | 'pool' | 'dense' | 'lraspp' | 'ssdextra' | 'ssdhead';

export interface OpDescriptor {
  op: OpKind;
  /** Input height, width, channels (dense: 1 x 1 x features). */
  in: Shape;
  out: number;
  /** Expansion width of a bneck. */
  exp?: number;
  kernel: number;
  stride: number;
  act: Activation | null;
  se: SqueezeExcite | null;
  residual: boolean;
  /** Spatial (kxk) conv dilation, when above 1. */
  dilation?: number;
  /** LR-ASPP: the low-level features, the inner width, the attention pooling, the output size. */
  low?: Shape;
  inter?: number;
  pooling?: Pooling;
  outSize?: readonly [number, number];
  /** SSDLite predictors: anchors per location (`out` is the class count). */
  anchors?: number;
}

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
      return `lraspp-in:${shape}-low:${shapeText(d.low!)}-inter:${d.inter}-out:${d.out}-pool:${poolingText(d.pooling!)}-size:${shapeText(d.outSize!)}`;
    case 'ssdextra':
      return `ssdextra-in:${shape}-out:${d.out}`;
    case 'ssdhead':
      return `ssdhead-in:${shape}-anchors:${d.anchors}-out:${d.out}`;
    case 'dense':
      return `dense-in:${d.in[2]}-out:${d.out}${d.act ? `-act:${d.act}` : ''}`;
    default: {
      const parts = [`${d.op}-in:${shape}`];
      if (d.op === 'bneck') parts.push(`exp:${d.exp}`);
      parts.push(`out:${d.out}`, `k:${d.kernel}`, `s:${d.stride}`);
      if ((d.dilation ?? 1) > 1) parts.push(`d:${d.dilation}`);
      parts.push(`act:${d.act}`);
      if (d.se) parts.push(`se:${d.se.squeeze}.${d.se.gate}.${d.se.activation}`);
      if (d.residual) parts.push('res');
      return parts.join('-');
    }
  }
}

const KEY_FIELD = /^(in|exp|out|k|s|d|act|se|low|inter|pool|size|anchors):(.+)$/;

/** Parses a canonical key back into its descriptor; null when it is not one. */
export function parseOpKey(key: string): OpDescriptor | null {
  const [op, ...fields] = key.split('-');
  if (!op || !['conv', 'dsconv', 'bneck', 'pool', 'dense', 'lraspp', 'ssdextra', 'ssdhead'].includes(op)) return null;
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
  const int = (name: string) => {
    const v = Number(values.get(name));
    return Number.isInteger(v) && v > 0 ? v : null;
  };
  const act = values.get('act') as Activation | undefined;
  if (act !== undefined && !(ACTIVATIONS as readonly string[]).includes(act)) return null;
  let se: SqueezeExcite | null = null;
  if (values.has('se')) {
    const [squeeze, gate, seAct] = values.get('se')!.split('.');
    if (
      !Number(squeeze) ||
      !(SE_GATES as readonly string[]).includes(gate ?? '') ||
      !(ACTIVATIONS as readonly string[]).includes(seAct ?? '')
    )
      return null;
    se = { squeeze: Number(squeeze), gate: gate as SqueezeExcite['gate'], activation: seAct as Activation };
  }
  const inText = values.get('in') ?? '';
  let input: Shape;
  if (op === 'dense') {
    const features = Number(inText);
    if (!Number.isInteger(features) || features < 1) return null;
    input = [1, 1, features];
  } else {
    const dims = inText.split('x').map(Number);
    if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) return null;
    input = dims as unknown as Shape;
  }
  const kind = op as OpKind;
  const dims = (text: string | undefined, count: number) => {
    const parts = (text ?? '').split('x').map(Number);
    return parts.length === count && parts.every((d) => Number.isInteger(d) && d > 0) ? parts : null;
  };
  if (kind === 'lraspp') {
    const low = dims(values.get('low'), 3);
    const size = dims(values.get('size'), 2);
    const poolText = values.get('pool') ?? '';
    const avg = /^avg\.(\d+)x(\d+)\.(\d+)x(\d+)$/.exec(poolText);
    const pooling: Pooling | null =
      poolText === 'global'
        ? { type: 'global' }
        : avg
          ? { type: 'avg', kernel: [Number(avg[1]), Number(avg[2])], stride: [Number(avg[3]), Number(avg[4])] }
          : null;
    const out = int('out');
    const inter = int('inter');
    if (!low || !size || !pooling || out === null || inter === null) return null;
    return {
      op: kind,
      in: input,
      out,
      kernel: 1,
      stride: 1,
      act: null,
      se: null,
      residual: false,
      low: low as unknown as Shape,
      inter,
      pooling,
      outSize: size as unknown as [number, number],
    };
  }
  if (kind === 'ssdextra' || kind === 'ssdhead') {
    const out = int('out');
    const anchors = kind === 'ssdhead' ? int('anchors') : 0;
    if (out === null || anchors === null) return null;
    return {
      op: kind,
      in: input,
      out,
      kernel: 3,
      stride: kind === 'ssdextra' ? 2 : 1,
      act: 'relu6',
      se: null,
      residual: false,
      ...(kind === 'ssdhead' ? { anchors } : {}),
    };
  }
  if (kind === 'pool') return { op: kind, in: input, out: input[2], kernel: input[0], stride: 1, act: null, se: null, residual: false };
  const out = int('out');
  if (out === null) return null;
  if (kind === 'dense') return { op: kind, in: input, out, kernel: 1, stride: 1, act: act ?? null, se: null, residual: false };
  const kernel = int('k');
  const stride = int('s');
  if (kernel === null || stride === null || act === undefined) return null;
  const descriptor: OpDescriptor = { op: kind, in: input, out, kernel, stride, act, se, residual };
  if (values.has('d')) {
    const dilation = int('d');
    if (dilation === null) return null;
    descriptor.dilation = dilation;
  }
  if (kind === 'bneck') {
    const exp = int('exp');
    if (exp === null) return null;
    descriptor.exp = exp;
  }
  return descriptor;
}

/** The descriptor of one resolved unit. */
export function unitOp(unit: Unit): OpDescriptor {
  switch (unit.kind) {
    case 'stem':
    case 'head-conv':
    case 'conv':
    case 'dsconv':
    case 'bneck': {
      // Built field by field: this runs for every unit of every spec a search prices.
      const op: OpDescriptor = {
        op: unit.kind === 'dsconv' || unit.kind === 'bneck' ? unit.kind : 'conv',
        in: unit.inShape,
        out: unit.outShape[2],
        kernel: unit.kernel,
        stride: unit.stride,
        act: unit.activation,
        se: null,
        residual: unit.residual,
      };
      if (unit.kind === 'bneck') op.exp = unit.exp!;
      let spatialSeen = false;
      for (const layer of unit.layers) {
        if (layer.op === 'conv' && layer.kernel > 1 && !spatialSeen) {
          spatialSeen = true;
          if (layer.dilation > 1) op.dilation = layer.dilation;
        }
        if (layer.op === 'se' && !op.se) op.se = { squeeze: layer.squeeze, gate: layer.gate, activation: layer.activation };
      }
      return op;
    }
    case 'pool':
      return {
        op: 'pool',
        in: unit.inShape,
        out: unit.inShape[2],
        kernel: unit.inShape[0],
        stride: unit.stride,
        act: null,
        se: null,
        residual: unit.residual,
      };
    case 'pre-logits':
    case 'classifier':
      return {
        op: 'dense',
        in: unit.inShape,
        out: unit.outShape[2],
        kernel: unit.kernel,
        stride: unit.stride,
        act: unit.activation,
        se: null,
        residual: unit.residual,
      };
    case 'lraspp': {
      const d = unit.lraspp!;
      return {
        op: 'lraspp',
        in: unit.inShape,
        out: d.classes,
        kernel: 1,
        stride: 1,
        act: null,
        se: null,
        residual: false,
        low: d.low,
        inter: d.inter,
        pooling: d.pooling,
        outSize: d.outSize,
      };
    }
    case 'ssd-extra':
      return { op: 'ssdextra', in: unit.inShape, out: unit.outShape[2], kernel: 3, stride: 2, act: 'relu6', se: null, residual: false };
    case 'ssd-head':
      return {
        op: 'ssdhead',
        in: unit.inShape,
        out: unit.ssd!.classes,
        kernel: 3,
        stride: 1,
        act: 'relu6',
        se: null,
        residual: false,
        anchors: unit.ssd!.anchors,
      };
  }
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
        { type: 'segmentation', decoder: 'lraspp', lowStride: 1, highStride: 1, interChannels: d.inter!, pooling: d.pooling! },
        d.in,
        d.low!,
        d.out,
        d.outSize!,
      );
    case 'ssdextra':
      return ssdExtraUnit('op', d.in, d.out);
    case 'ssdhead':
      return ssdHeadUnit('op', { name: 'features', shape: d.in }, d.anchors!, d.out);
    default: {
      const dilation = (d.dilation ?? 1) > 1 ? { dilation: d.dilation as 2 | 4 } : {};
      const common = {
        id: 'op',
        kernel: d.kernel as Block['kernel'],
        stride: d.stride as Block['stride'],
        out: d.out,
        activation: d.act!,
        se: d.se,
        residual: d.residual,
        ...dilation,
      };
      const block: Block = d.op === 'bneck' ? { type: 'bneck', ...common, exp: d.exp! } : { type: d.op, ...common };
      return blockUnit(block, d.in);
    }
  }
}
