/**
 * Exact cost accounting of an ArchSpec, pure TypeScript.
 *
 * MAdds: multiply-adds of convolutions and dense layers (SE and classifier included); batch norm,
 * activations, pooling and additions are not counted. Params: weights + biases + BN gamma/beta
 * (BN moving statistics are not parameters), i.e. what training updates.
 */
import type { ArchSpec } from './archspec.js';
import { type Layer, type ResolvedNet, resolve, type Unit } from './resolve.js';

export interface Cost {
  madds: number;
  params: number;
}

export interface UnitCost extends Cost {
  unit: Unit;
  layers: { layer: Layer; cost: Cost }[];
}

export interface NetCost extends Cost {
  units: UnitCost[];
}

export function layerCost(layer: Layer): Cost {
  switch (layer.op) {
    case 'conv': {
      const [h, w] = layer.outShape;
      const weights = layer.kernel * layer.kernel * (layer.inChannels / layer.groups) * layer.outChannels;
      const params = weights + (layer.bias ? layer.outChannels : 0) + (layer.batchNorm ? 2 * layer.outChannels : 0);
      return { madds: h * w * weights, params };
    }
    case 'se': {
      const weights = 2 * layer.channels * layer.squeeze;
      return { madds: weights, params: weights + layer.squeeze + layer.channels };
    }
    case 'dense': {
      const weights = layer.inFeatures * layer.outFeatures;
      return { madds: weights, params: weights + layer.outFeatures };
    }
    case 'global-avg-pool':
    case 'avg-pool':
    case 'resize':
    case 'dropout':
      return { madds: 0, params: 0 };
  }
}

export function unitCost(unit: Unit): UnitCost {
  const layers = unit.layers.map((layer) => ({ layer, cost: layerCost(layer) }));
  return { unit, layers, ...sumCosts(layers.map((l) => l.cost)) };
}

export function netCost(net: ResolvedNet): NetCost {
  const units = net.units.map(unitCost);
  return { units, ...sumCosts(units) };
}

export function specCost(spec: ArchSpec): NetCost {
  return netCost(resolve(spec));
}

function sumCosts(costs: readonly Cost[]): Cost {
  return costs.reduce((total, c) => ({ madds: total.madds + c.madds, params: total.params + c.params }), { madds: 0, params: 0 });
}
