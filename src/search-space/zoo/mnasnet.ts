/**
 * MnasNet-A1 (Tan et al.), written in the paper's block notation. SE squeeze width is relative to
 * the layer's input channels (int(0.25 x input)), gated by a sigmoid, as in the reference code.
 */
import type { SqueezeExcite } from '../archspec.js';
import { assemble, type BlockDraft, type ZooOptions } from './assemble.js';

/** repeats, kernel, stride, expansion ratio, input, output, SE ratio, identity skip. */
type Row = readonly [r: number, k: 3 | 5, s: 1 | 2, e: number, i: number, o: number, se: number, skip: boolean];

// biome-ignore format: one row per layer, aligned like the paper's table
export const MNASNET_A1_ROWS: readonly Row[] = [
  // r, k, s, e,   i,   o,   se,  skip
  [1, 3, 1, 1,  32,  16, 0,    false], // r1_k3_s11_e1_i32_o16_noskip
  [2, 3, 2, 6,  16,  24, 0,    true],  // r2_k3_s22_e6_i16_o24
  [3, 5, 2, 3,  24,  40, 0.25, true],  // r3_k5_s22_e3_i24_o40_se0.25
  [4, 3, 2, 6,  40,  80, 0,    true],  // r4_k3_s22_e6_i40_o80
  [2, 3, 1, 6,  80, 112, 0.25, true],  // r2_k3_s11_e6_i80_o112_se0.25
  [3, 5, 2, 6, 112, 160, 0.25, true],  // r3_k5_s22_e6_i112_o160_se0.25
  [1, 3, 1, 6, 160, 320, 0,    true],  // r1_k3_s11_e6_i160_o320
];

export function mnasnetA1(options: ZooOptions = {}) {
  const blocks: BlockDraft[] = [];
  for (const [r, kernel, s, e, i, o, seRatio, skip] of MNASNET_A1_ROWS) {
    for (let n = 0; n < r; n++) {
      const input = n === 0 ? i : o;
      const stride = n === 0 ? s : 1;
      const se: SqueezeExcite | null =
        seRatio > 0 ? { squeeze: Math.max(1, Math.floor(input * seRatio)), gate: 'sigmoid', activation: 'relu' } : null;
      const common = { kernel, stride, out: o, activation: 'relu' as const, se, residual: skip && stride === 1 && input === o };
      blocks.push(e === 1 ? { type: 'dsconv', ...common } : { type: 'bneck', ...common, exp: input * e });
    }
  }
  return assemble({
    name: 'mnasnet-a1',
    source: 'MnasNet-A1 (MnasNet paper, Figure 7; reference block strings)',
    resolution: options.resolution ?? 224,
    classes: options.classes ?? 1000,
    dropout: options.dropout ?? 0.2,
    stem: { kernel: 3, stride: 2, out: 32, activation: 'relu' },
    blocks,
    headConv: { out: 1280, activation: 'relu' },
    preLogits: null,
  });
}
