/**
 * Spaces derived from the zoo, for profiling and validating latency tables before (and besides)
 * the search spaces: `zoo` (the zoo models themselves) and `zoo-neighbourhood` (MobileNetV3-Large
 * and -Small at widths 1.0 and 0.75 with every bottleneck free to change its kernel (3/5), SE
 * (on/off), activation (ReLU/h-swish) and expansion width (x1 or x0.75)). Block output widths stay
 * those of the base model, so each block's input is fixed and the units enumerate block by block.
 */
import type { Rng } from '../common/rng.js';
import type { Block } from './archspec.js';
import { parseArchSpec } from './archspec.js';
import { blockUnit, resolve, type Unit } from './resolve.js';
import { type ArchSpace, registerSpace } from './space.js';
import { makeDivisible, zooNames, zooSpec } from './zoo/index.js';

const pick = <T>(rng: Rng, values: readonly T[]): T => values[Math.floor(rng() * values.length)]!;

export const zooSpace: ArchSpace = {
  name: 'zoo',
  description: 'the zoo models (MobileNetV3 family, MobileNetV2, MnasNet-A1)',
  resolution: 224,
  sample: (rng, resolution) => zooSpec(pick(rng, zooNames()), { resolution }),
  *units(resolution) {
    for (const name of zooNames()) yield* resolve(zooSpec(name, { resolution })).units;
  },
};

const NEIGHBOURHOOD_BASES = ['mobilenetv3-large-1.0', 'mobilenetv3-large-0.75', 'mobilenetv3-small-1.0', 'mobilenetv3-small-0.75'];

/** Every variant of one block the neighbourhood allows. */
function blockVariants(block: Block): Block[] {
  const variants: Block[] = [];
  const exps = block.type === 'bneck' ? [...new Set([block.exp, Math.max(8, makeDivisible(block.exp * 0.75))])] : [null];
  for (const kernel of [3, 5] as const) {
    for (const activation of ['relu', 'hswish'] as const) {
      for (const exp of exps) {
        const mid = exp ?? 0;
        for (const withSe of [false, true]) {
          const seWidth = block.type === 'bneck' ? mid : block.out;
          const se = withSe ? { squeeze: makeDivisible(seWidth / 4), gate: 'hsigmoid' as const, activation: 'relu' as const } : null;
          variants.push(block.type === 'bneck' ? { ...block, kernel, activation, exp: exp!, se } : { ...block, kernel, activation, se });
        }
      }
    }
  }
  return variants;
}

export const zooNeighbourhood: ArchSpace = {
  name: 'zoo-neighbourhood',
  description: 'MobileNetV3-Large/Small 1.0 and 0.75 with per-block kernel 3/5, SE on/off, ReLU/h-swish, expansion x1/x0.75',
  resolution: 224,
  sample(rng, resolution) {
    const base = zooSpec(pick(rng, NEIGHBOURHOOD_BASES), { resolution });
    const blocks = base.blocks.map((b) => pick(rng, blockVariants(b)));
    return parseArchSpec(
      { ...base, name: `${base.name}-variant`, blocks, provenance: { ...base.provenance, source: `zoo-neighbourhood of ${base.name}` } },
      'zoo-neighbourhood sample',
    );
  },
  *units(resolution) {
    for (const name of NEIGHBOURHOOD_BASES) {
      const base = zooSpec(name, { resolution });
      const units = resolve(base).units;
      for (const unit of units) if (!BLOCK_KINDS.has(unit.kind)) yield unit;
      for (const [i, block] of base.blocks.entries()) {
        const inShape = units[i + 1]!.inShape;
        for (const variant of blockVariants(block)) yield blockUnit(variant, inShape);
      }
    }
  },
};

const BLOCK_KINDS = new Set<Unit['kind']>(['conv', 'dsconv', 'bneck']);

registerSpace(zooSpace);
registerSpace(zooNeighbourhood);
