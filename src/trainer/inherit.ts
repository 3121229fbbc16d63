/**
 * Weight inheritance between two specs that share layer ids (NetAdapt's "populate the new shape
 * from the previous weights").
 *
 * Every weight axis that runs over channels belongs to a channel space: the output of the stem or
 * a block, a block's expansion (named after its layer, e.g. `b3.expand`), an SE squeeze, a head
 * or decoder layer. A residual block writes back into its
 * input's space, so the blocks joined by additions share one space. When a space shrinks, the
 * channels kept are those whose producing filters (the conv/dense kernels writing the space) have
 * the largest L2 norm, summed over all producers of a shared space; every weight reading or
 * writing the space is sliced with the same indices (BN, depthwise, SE, the next layers' inputs),
 * so residual additions stay aligned. Weights of new layers, or whose kernel size changed, are left
 * to fresh initialisation.
 */
import type { ArchSpec } from '../search-space/archspec.js';
import { type Layer, resolve } from '../search-space/resolve.js';
import { bnName } from './build-model.js';
import type { NamedWeight } from './checkpoint.js';

interface WeightAxes {
  name: string;
  shape: number[];
  /** The channel space of each axis, null for spatial/other axes. */
  spaces: (string | null)[];
  /** The axis that writes its space (conv and dense kernels), for choosing channels to keep. */
  producerAxis: number | null;
}

/** Every weight of the spec's model with the channel space of each axis. */
export function weightLayout(spec: ArchSpec): WeightAxes[] {
  const weights: WeightAxes[] = [];
  const add = (name: string, shape: number[], spaces: (string | null)[], producerAxis: number | null = null) =>
    weights.push({ name, shape, spaces, producerAxis });
  const bn = (layer: string, channels: number, space: string) => {
    for (const w of ['gamma', 'beta', 'moving_mean', 'moving_variance']) add(`${bnName(layer)}/${w}`, [channels], [space]);
  };
  const net = resolve(spec);
  /** Space of each tapped feature, by tap name. */
  const tapSpaces = new Map<string, string>();
  const tapAt = (unit: number, layer: number | null, space: string) => {
    for (const tap of net.taps) if (tap.unit === unit && tap.layer === layer) tapSpaces.set(tap.name, space);
  };

  let space = 'input';
  net.units.forEach((unit, index) => {
    const input = unit.inputs && unit.inputs[0] !== 'previous' ? tapSpaces.get(unit.inputs[0]!)! : space;
    // A residual unit adds into its input: its output channels are its input's channels.
    const unitOut = unit.residual ? input : unit.id;
    const lastConv = unit.layers.map((l) => l.op === 'conv').lastIndexOf(true);
    let current = input;
    unit.layers.forEach((layer, j) => {
      if (unit.kind === 'lraspp') current = lrasppLayer(layer, input, current);
      else if (unit.kind === 'ssd-head') current = addLayer(layer, layer.name.endsWith('_dw') ? input : current, layer.name);
      else current = addLayer(layer, current, j === lastConv ? unitOut : layer.name);
      tapAt(index, j, current);
    });
    if (unit.kind !== 'ssd-head') space = current;
    tapAt(index, null, space);
  });
  return weights;

  /** Adds a layer's weights reading `input`; a (non-depthwise) conv or dense layer writes `out`. */
  function addLayer(layer: Layer, input: string, out: string): string {
    switch (layer.op) {
      case 'conv': {
        const k = layer.kernel;
        if (layer.groups > 1) {
          add(`${layer.name}/depthwise_kernel`, [k, k, layer.inChannels, 1], [null, null, input, null]);
          bn(layer.name, layer.outChannels, input);
          return input;
        }
        add(`${layer.name}/kernel`, [k, k, layer.inChannels, layer.outChannels], [null, null, input, out], 3);
        if (layer.bias) add(`${layer.name}/bias`, [layer.outChannels], [out]);
        if (layer.batchNorm) bn(layer.name, layer.outChannels, out);
        return out;
      }
      case 'se': {
        const squeeze = `${layer.name}.squeeze`;
        add(`${layer.name}/reduce_kernel`, [layer.channels, layer.squeeze], [input, squeeze], 1);
        add(`${layer.name}/reduce_bias`, [layer.squeeze], [squeeze]);
        add(`${layer.name}/expand_kernel`, [layer.squeeze, layer.channels], [squeeze, input]);
        add(`${layer.name}/expand_bias`, [layer.channels], [input]);
        return input;
      }
      case 'dense':
        add(`${layer.name}/kernel`, [layer.inFeatures, layer.outFeatures], [input, out], 1);
        add(`${layer.name}/bias`, [layer.outFeatures], [out]);
        return out;
      case 'global-avg-pool':
      case 'avg-pool':
      case 'resize':
      case 'dropout':
        return input;
    }
  }

  /** LR-ASPP reads the high features (cbr, scale), its own inner space, and the low tap. */
  function lrasppLayer(layer: Layer, high: string, current: string): string {
    const inner = 'lraspp.inner';
    if (layer.name.endsWith('.cbr') || layer.name.endsWith('.scale')) return addLayer(layer, high, inner);
    if (layer.name.endsWith('.high_classifier')) return addLayer(layer, inner, 'classes');
    if (layer.name.endsWith('.low_classifier')) return addLayer(layer, tapSpaces.get('low')!, 'classes');
    return current;
  }
}

/** Squared L2 norm of each index along `axis` of a row-major array. */
function normsAlong(values: Float32Array, shape: number[], axis: number): Float64Array {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const size = shape[axis]!;
  const norms = new Float64Array(size);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    norms[Math.floor(i / inner) % size]! += v * v;
  }
  return norms;
}

/** Gathers `indices[axis]` (null: all) of a row-major array into a new array of `shape`. */
function gather(values: Float32Array, oldShape: number[], indices: (Int32Array | null)[], shape: number[]): Float32Array {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const oldStrides = oldShape.map((_, i) => oldShape.slice(i + 1).reduce((a, b) => a * b, 1));
  const index = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let source = 0;
    for (let a = 0; a < shape.length; a++) source += (indices[a] ? indices[a]![index[a]!]! : index[a]!) * oldStrides[a]!;
    out[o] = values[source]!;
    for (let a = shape.length - 1; a >= 0 && ++index[a]! === shape[a]; a--) index[a] = 0;
  }
  return out;
}

export interface InheritedWeights {
  /** Values for the new spec's weights, by name; absent: leave the fresh initialisation. */
  weights: NamedWeight[];
  /** Weights of the new spec that had nothing to inherit. */
  fresh: string[];
  /** Kept channel indices of every shrunk space. */
  kept: Record<string, number[]>;
}

export function inheritWeights(oldSpec: ArchSpec, oldWeights: readonly NamedWeight[], newSpec: ArchSpec): InheritedWeights {
  const values = new Map(oldWeights.map((w) => [w.name, w]));
  const oldLayout = weightLayout(oldSpec);
  const newLayout = weightLayout(newSpec);
  const sizeOf = (layout: WeightAxes[]) => {
    const sizes = new Map<string, number>();
    for (const w of layout)
      w.spaces.forEach((s, axis) => {
        if (s) sizes.set(s, w.shape[axis]!);
      });
    return sizes;
  };
  const oldSizes = sizeOf(oldLayout);
  const newSizes = sizeOf(newLayout);

  // Channels to keep for each shrunk space: largest summed producer norms, in their original order.
  const kept = new Map<string, Int32Array>();
  for (const [space, size] of newSizes) {
    const oldSize = oldSizes.get(space);
    if (oldSize === undefined || oldSize <= size) continue;
    const score = new Float64Array(oldSize);
    for (const w of oldLayout) {
      if (w.producerAxis === null || w.spaces[w.producerAxis] !== space) continue;
      const stored = values.get(w.name);
      if (stored)
        normsAlong(stored.values, stored.shape, w.producerAxis).forEach((n, i) => {
          score[i]! += n;
        });
    }
    const order = Array.from(score.keys()).sort((a, b) => score[b]! - score[a]! || a - b);
    kept.set(space, Int32Array.from(order.slice(0, size).sort((a, b) => a - b)));
  }

  const weights: NamedWeight[] = [];
  const fresh: string[] = [];
  for (const w of newLayout) {
    const old = values.get(w.name);
    const compatible =
      old &&
      old.shape.length === w.shape.length &&
      w.spaces.every((s, axis) =>
        s ? (oldSizes.get(s) ?? -1) >= w.shape[axis]! || old.shape[axis] === w.shape[axis] : old.shape[axis] === w.shape[axis],
      );
    if (!old || !compatible) {
      fresh.push(w.name);
      continue;
    }
    const indices = w.spaces.map((s, axis) => {
      if (!s || old.shape[axis] === w.shape[axis]) return null;
      return kept.get(s) ?? Int32Array.from({ length: w.shape[axis]! }, (_, i) => i);
    });
    weights.push({
      name: w.name,
      shape: w.shape,
      values: indices.every((i) => i === null) ? old.values : gather(old.values, old.shape, indices, w.shape),
    });
  }
  return { weights, fresh, kept: Object.fromEntries([...kept].map(([s, idx]) => [s, Array.from(idx)])) };
}
