/**
 * MobileNetV3-Large and -Small, written as the paper's Tables 1 and 2, and their variants:
 * width multipliers (TF-slim rounding, which reproduces the paper's 0.75 rows), minimalistic
 * (no SE, ReLU only, 3x3 kernels) and reduced tail (last stage halved, for dense prediction).
 */
import type { Activation, Task } from '../archspec.js';
import { assemble, type BlockDraft, makeDivisible, type ZooOptions } from './assemble.js';

type NL = 'RE' | 'HS';
/** One bneck row of the paper's table: kernel, exp, out, SE, NL, stride. */
type Row = readonly [kernel: 3 | 5, exp: number, out: number, se: boolean, nl: NL, stride: 1 | 2];

interface V3Table {
  title: string;
  stem: number;
  rows: readonly Row[];
  lastConv: number;
  preLogits: number;
}

// biome-ignore format: one row per layer, aligned like the paper's table
export const MOBILENETV3_LARGE: V3Table = {
  title: 'MobileNetV3-Large',
  stem: 16, // conv2d 3x3, stride 2, HS
  rows: [
    // k, exp, out,  SE,    NL,   s
    [3,  16,  16, false, 'RE', 1],
    [3,  64,  24, false, 'RE', 2],
    [3,  72,  24, false, 'RE', 1],
    [5,  72,  40, true,  'RE', 2],
    [5, 120,  40, true,  'RE', 1],
    [5, 120,  40, true,  'RE', 1],
    [3, 240,  80, false, 'HS', 2],
    [3, 200,  80, false, 'HS', 1],
    [3, 184,  80, false, 'HS', 1],
    [3, 184,  80, false, 'HS', 1],
    [3, 480, 112, true,  'HS', 1],
    [3, 672, 112, true,  'HS', 1],
    [5, 672, 160, true,  'HS', 2],
    [5, 960, 160, true,  'HS', 1],
    [5, 960, 160, true,  'HS', 1],
  ],
  lastConv: 960, // conv2d 1x1, HS
  preLogits: 1280, // after pooling: conv2d 1x1, no BN, HS
};

// biome-ignore format: one row per layer, aligned like the paper's table
export const MOBILENETV3_SMALL: V3Table = {
  title: 'MobileNetV3-Small',
  stem: 16,
  rows: [
    // k, exp, out,  SE,    NL,   s
    [3,  16,  16, true,  'RE', 2],
    [3,  72,  24, false, 'RE', 2],
    [3,  88,  24, false, 'RE', 1],
    [5,  96,  40, true,  'HS', 2],
    [5, 240,  40, true,  'HS', 1],
    [5, 240,  40, true,  'HS', 1],
    [5, 120,  48, true,  'HS', 1],
    [5, 144,  48, true,  'HS', 1],
    [5, 288,  96, true,  'HS', 2],
    [5, 576,  96, true,  'HS', 1],
    [5, 576,  96, true,  'HS', 1],
  ],
  lastConv: 576,
  preLogits: 1024,
};

export interface V3Options extends ZooOptions {
  /** Width multiplier. */
  width?: number;
  /** No SE, ReLU everywhere, 3x3 depthwise kernels. */
  minimal?: boolean;
  /** Last stage (from its stride-2 block on) at half width, pre-logits halved (torchvision's reduced_tail). */
  reducedTail?: boolean;
  /** Last stage atrous: its stride-2 block at stride 1, the stage dilated by 2 (output stride 16). */
  dilated?: boolean;
  /** A dense-prediction task: the backbone then ends at the head conv (no pre-logits, no classifier). */
  task?: Task;
  name?: string;
}

const NONLINEARITY: Record<NL, Activation> = { RE: 'relu', HS: 'hswish' };

export function mobilenetV3(table: V3Table, options: V3Options = {}) {
  const { width = 1, minimal = false, reducedTail = false, dilated = false } = options;
  const rows = reducedTail ? halveLastStage(table.rows) : table.rows;
  const lastStage = rows.map((row) => row[5]).lastIndexOf(2);
  const act = (nl: NL): Activation => (minimal ? 'relu' : NONLINEARITY[nl]);

  let channels = makeDivisible(table.stem * width);
  let tableChannels = table.stem;
  const blocks = rows.map(([kernel, exp, out, se, nl, tableStride], i): BlockDraft => {
    const atrous = dilated && i >= lastStage;
    const stride = atrous ? 1 : tableStride;
    // Expansion = the table's ratio applied to the already-rounded input width (TF-slim).
    const expansionRatio = exp / tableChannels;
    const expWidth = expansionRatio === 1 ? channels : makeDivisible(expansionRatio * channels);
    const common = {
      kernel: minimal ? 3 : kernel,
      stride,
      ...(atrous ? { dilation: 2 as const } : {}),
      out: makeDivisible(out * width),
      activation: act(nl),
      se: se && !minimal ? { squeeze: makeDivisible(expWidth / 4), gate: 'hsigmoid' as const, activation: 'relu' as const } : null,
    };
    channels = common.out;
    tableChannels = out;
    return expansionRatio === 1 ? { type: 'dsconv', ...common } : { type: 'bneck', ...common, exp: expWidth };
  });

  const lastConvRatio = table.lastConv / table.rows[table.rows.length - 1]![2];
  const preLogits = (reducedTail ? table.preLogits / 2 : table.preLogits) * Math.max(1, width);
  const variant = [
    minimal ? 'minimal' : null,
    reducedTail ? 'reduced tail' : null,
    dilated ? 'dilated last stage' : null,
    options.task ? `${options.task.type} head` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const dense = options.task && options.task.type !== 'classification';
  return assemble({
    name: options.name ?? `${table.title.toLowerCase()}-${width}`,
    source: `${table.title}, width ${width}${variant ? `, ${variant}` : ''} (paper Tables 1-2, TF-slim width rounding)`,
    resolution: options.resolution ?? 224,
    classes: options.classes ?? 1000,
    dropout: dense ? 0 : (options.dropout ?? 0.2),
    stem: { kernel: 3, stride: 2, out: makeDivisible(table.stem * width), activation: act('HS') },
    blocks,
    headConv: { out: lastConvRatio * channels, activation: act('HS') },
    preLogits: dense ? null : { out: width > 1 ? makeDivisible(preLogits) : preLogits, activation: act('HS') },
    task: options.task,
  });
}

/** Halves the widths of the last stage: outputs from its stride-2 block on, expansions after it. */
function halveLastStage(rows: readonly Row[]): Row[] {
  const start = rows.map((row) => row[5]).lastIndexOf(2);
  return rows.map(
    ([k, exp, out, se, nl, s], i): Row => (i < start ? [k, exp, out, se, nl, s] : [k, i > start ? exp / 2 : exp, out / 2, se, nl, s]),
  );
}
