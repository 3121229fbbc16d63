/**
 * MobileNetV2 (Sandler et al.), written as the paper's Table 2, with torchvision's width rounding:
 * block outputs and the stem rounded to multiples of 8, expansion = round(t x rounded input),
 * last layer max(1, width) x 1280.
 */
import { assemble, type BlockDraft, makeDivisible, type ZooOptions } from './assemble.js';

/** t (expansion factor), c (output channels), n (repeats), s (stride of the first repeat). */
type Row = readonly [t: number, c: number, n: number, s: 1 | 2];

// biome-ignore format: one row per layer, aligned like the paper's table
export const MOBILENETV2_ROWS: readonly Row[] = [
  // t,   c, n, s
  [1,  16, 1, 1],
  [6,  24, 2, 2],
  [6,  32, 3, 2],
  [6,  64, 4, 2],
  [6,  96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export function mobilenetV2(options: ZooOptions & { width?: number; name?: string } = {}) {
  const width = options.width ?? 1;
  let channels = makeDivisible(32 * width);
  const stem = { kernel: 3 as const, stride: 2 as const, out: channels, activation: 'relu6' as const };
  const blocks: BlockDraft[] = [];
  for (const [t, c, n, s] of MOBILENETV2_ROWS) {
    const out = makeDivisible(c * width);
    for (let i = 0; i < n; i++) {
      const common = { kernel: 3 as const, stride: i === 0 ? s : (1 as const), out, activation: 'relu6' as const, se: null };
      blocks.push(t === 1 ? { type: 'dsconv', ...common } : { type: 'bneck', ...common, exp: Math.round(channels * t) });
      channels = out;
    }
  }
  return assemble({
    name: options.name ?? `mobilenetv2-${width}`,
    source: `MobileNetV2, width ${width} (paper Table 2, torchvision width rounding)`,
    resolution: options.resolution ?? 224,
    classes: options.classes ?? 1000,
    dropout: options.dropout ?? 0.2,
    stem,
    blocks,
    headConv: { out: makeDivisible(1280 * Math.max(1, width)), activation: 'relu6' },
    preLogits: null,
  });
}
