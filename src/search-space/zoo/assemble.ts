/**
 * Turns a model drafted without ids into a validated ArchSpec: ids `stem`, `b1`..`bN`,
 * `head_conv`, `head_prelogits`; residuals default to "stride 1 and equal widths".
 */

import { TOOL_NAME } from '../../common/version.js';
import {
  type Activation,
  ARCHSPEC_SCHEMA_VERSION,
  type ArchSpec,
  type Block,
  type BneckBlock,
  type ConvBlock,
  type DsConvBlock,
  type Provenance,
  parseArchSpec,
  type Stem,
  type Task,
} from '../archspec.js';

/** A block before ids are assigned; the residual defaults to "stride 1 and equal widths". */
export type BlockDraft = (
  | Omit<ConvBlock, 'id' | 'residual'>
  | Omit<DsConvBlock, 'id' | 'residual'>
  | Omit<BneckBlock, 'id' | 'residual'>
) & {
  residual?: boolean;
};

export interface ModelDraft {
  name: string;
  source: string;
  resolution: number;
  classes: number;
  dropout: number;
  stem: Omit<Stem, 'id'>;
  blocks: BlockDraft[];
  headConv: { out: number; activation: Activation } | null;
  preLogits: { out: number; activation: Activation } | null;
  task?: Task;
}

export interface ZooOptions {
  resolution?: number;
  classes?: number;
  dropout?: number;
}

/** Makes a channel count divisible by 8 the way TF-slim and torchvision do (never more than 10% down). */
export function makeDivisible(value: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((value + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * value ? rounded + divisor : rounded;
}

export function assemble(draft: ModelDraft): ArchSpec {
  let channels = draft.stem.out;
  const blocks = draft.blocks.map((block, i): Block => {
    const residual = block.residual ?? (block.stride === 1 && block.out === channels);
    channels = block.out;
    return { ...block, id: `b${i + 1}`, residual } as Block;
  });
  const provenance: Provenance = { command: `zoo ${draft.name}`, seed: null, tool: TOOL_NAME, source: draft.source };
  const spec: ArchSpec = {
    schemaVersion: ARCHSPEC_SCHEMA_VERSION,
    kind: 'archspec',
    name: draft.name,
    provenance,
    input: { resolution: draft.resolution, channels: 3 },
    stem: { id: 'stem', ...draft.stem },
    blocks,
    head: {
      conv: draft.headConv && { id: 'head_conv', ...draft.headConv },
      pool: 'avg',
      preLogits: draft.preLogits && { id: 'head_prelogits', ...draft.preLogits },
    },
    classes: draft.classes,
    dropout: draft.dropout,
    ...(draft.task ? { task: draft.task } : {}),
  };
  return parseArchSpec(spec, `zoo:${draft.name}`);
}
