/**
 * Two specs side by side, stage by stage, in the shape of the paper's Tables 1 and 2: what a
 * searched architecture found again of a hand-written one (MobileNetV3-Small / -Large) and where
 * it differs.
 *
 * Stages: the blocks (the stem and the head are not part of them) are cut into runs of consecutive
 * blocks; a new stage starts at every stride-2 block and at every block whose output width differs
 * from the previous block's. The same rule cuts both specs (MobileNetV3-Small: 5 stages, -Large: 6;
 * a MnasNet-space member: one per non-empty space stage).
 *
 * Pairing: each stage is placed at its output stride (the stem's and the blocks' strides up to its
 * end); at each output stride the reference's stages and the found ones are paired in order. A
 * reference stage without a partner is compared with nothing (`found: null`); a found stage
 * without one is listed in `unmatched`.
 *
 * Per stage, each attribute is the list of its distinct per-layer values in block order (one value
 * when the stage is uniform): op (block type), kernel, expansion ratio (expansion width / input
 * width, to one decimal; `-` for conv and dsconv blocks, which have no expansion layer), SE (on /
 * off), activation; plus the number of layers and the output width. Two stages agree on an
 * attribute when the sets of its values are equal (layers and width: the same number).
 */
import { countOf, markdownTable } from '../common/format.js';
import type { ArchSpec, Block } from './archspec.js';

export const COMPARED_ATTRIBUTES = ['op', 'kernel', 'expansion', 'se', 'activation', 'layers', 'out'] as const;
export type ComparedAttribute = (typeof COMPARED_ATTRIBUTES)[number];

const ATTRIBUTE_LABELS: Record<ComparedAttribute, string> = {
  op: 'op',
  kernel: 'kernel',
  expansion: 'expansion',
  se: 'SE',
  activation: 'activation',
  layers: 'layers',
  out: 'width',
};

/** One stage of a spec: its blocks and the per-layer values compared. */
export interface SpecStage {
  /** Block ids, in order. */
  blocks: string[];
  /** Input resolution / output resolution at the end of the stage. */
  outputStride: number;
  /** Stride of the stage's first block. */
  stride: number;
  out: number;
  layers: number;
  op: string[];
  kernel: number[];
  /** Expansion width / input width per layer (one decimal), null for blocks without expansion. */
  expansion: (number | null)[];
  se: boolean[];
  activation: string[];
}

export interface AttributeRow {
  attribute: ComparedAttribute;
  /** Distinct values in block order, as text (`3/5`, `on/off`, `-`). */
  reference: string;
  found: string | null;
  agree: boolean;
}

export interface StagePair {
  /** 1-based, in the reference's order. */
  index: number;
  reference: SpecStage;
  found: SpecStage | null;
  rows: AttributeRow[];
}

export interface StageComparison {
  reference: string;
  found: string;
  stages: StagePair[];
  /** Found stages with no reference stage at their output stride. */
  unmatched: SpecStage[];
  /** Per attribute: in how many of the reference's stages the found spec agrees. */
  agreement: Record<ComparedAttribute, number>;
}

/** The stages of a spec under the rule above. */
export function specStages(spec: ArchSpec): SpecStage[] {
  const stages: SpecStage[] = [];
  let width = spec.stem.out;
  let outputStride = spec.stem.stride;
  let current: SpecStage | null = null;
  for (const block of spec.blocks) {
    if (current === null || block.stride === 2 || block.out !== current.out) {
      current = {
        blocks: [],
        outputStride,
        stride: block.stride,
        out: block.out,
        layers: 0,
        op: [],
        kernel: [],
        expansion: [],
        se: [],
        activation: [],
      };
      stages.push(current);
    }
    outputStride *= block.stride;
    current.outputStride = outputStride;
    current.blocks.push(block.id);
    current.layers++;
    current.op.push(block.type);
    current.kernel.push(block.kernel);
    current.expansion.push(expansionRatio(block, width));
    current.se.push(block.se !== null);
    current.activation.push(block.activation);
    width = block.out;
  }
  return stages;
}

function expansionRatio(block: Block, inWidth: number): number | null {
  return block.type === 'bneck' ? Math.round((10 * block.exp) / inWidth) / 10 : null;
}

const distinct = <T>(values: readonly T[]): T[] => [...new Set(values)];

function valueText(value: string | number | boolean | null): string {
  if (value === null) return '-';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value);
}

function attributeValues(stage: SpecStage, attribute: ComparedAttribute): (string | number | boolean | null)[] {
  return attribute === 'layers' || attribute === 'out' ? [stage[attribute]] : distinct<string | number | boolean | null>(stage[attribute]);
}

function sameSet(a: readonly unknown[], b: readonly unknown[]): boolean {
  const bs = new Set(b);
  return a.length === bs.size && a.every((v) => bs.has(v));
}

function attributeRows(reference: SpecStage, found: SpecStage | null): AttributeRow[] {
  return COMPARED_ATTRIBUTES.map((attribute) => {
    const ref = attributeValues(reference, attribute);
    const got = found ? attributeValues(found, attribute) : null;
    return {
      attribute,
      reference: ref.map(valueText).join('/'),
      found: got ? got.map(valueText).join('/') : null,
      agree: got !== null && sameSet(ref, got),
    };
  });
}

/** The found spec against the reference, per stage of the reference. */
export function compareStages(found: ArchSpec, reference: ArchSpec): StageComparison {
  const refStages = specStages(reference);
  const foundStages = specStages(found);
  const partners = new Map<SpecStage, SpecStage>();
  for (const stride of distinct(refStages.map((s) => s.outputStride))) {
    const refs = refStages.filter((s) => s.outputStride === stride);
    const founds = foundStages.filter((s) => s.outputStride === stride);
    refs.forEach((r, i) => {
      const partner = founds[i];
      if (partner) partners.set(r, partner);
    });
  }
  const matched = new Set(partners.values());
  const stages = refStages.map((r, i): StagePair => {
    const partner = partners.get(r) ?? null;
    return { index: i + 1, reference: r, found: partner, rows: attributeRows(r, partner) };
  });
  const agreement = Object.fromEntries(
    COMPARED_ATTRIBUTES.map((a) => [a, stages.filter((s) => s.rows.some((row) => row.attribute === a && row.agree)).length]),
  ) as Record<ComparedAttribute, number>;
  return { reference: reference.name, found: found.name, stages, unmatched: foundStages.filter((s) => !matched.has(s)), agreement };
}

const stageLabel = (s: SpecStage) => `/${s.outputStride}, ${s.out} wide`;

/** `found again: op in 5 of 5 stages, kernel in 4 of 5, ...; differs: kernel in stage 3, SE in stages 2 and 4; ...`. */
export function comparisonSummary(c: StageComparison): string {
  const n = c.stages.length;
  const again = COMPARED_ATTRIBUTES.map((a, i) => `${ATTRIBUTE_LABELS[a]} in ${c.agreement[a]} of ${n}${i === 0 ? ' stages' : ''}`);
  const differs = COMPARED_ATTRIBUTES.flatMap((a) => {
    const where = c.stages.filter((s) => !s.rows.find((row) => row.attribute === a)?.agree).map((s) => s.index);
    if (!where.length) return [];
    const list = where.length === 1 ? `stage ${where[0]}` : `stages ${where.slice(0, -1).join(', ')} and ${where.at(-1)}`;
    return [`${ATTRIBUTE_LABELS[a]} in ${list}`];
  });
  const extra = c.unmatched.length
    ? `; ${countOf(c.unmatched.length, 'found stage')} with no counterpart (${c.unmatched.map(stageLabel).join('; ')})`
    : '';
  return `found again: ${again.join(', ')}; differs: ${differs.length ? differs.join(', ') : 'nowhere'}${extra}`;
}

/** A markdown table: per reference stage, each attribute's value where the two agree, `reference vs found` (bold) where they differ. */
export function renderStageComparison(c: StageComparison, options: { summary?: boolean } = {}): string {
  const head = ['stage', 'blocks', ...COMPARED_ATTRIBUTES.map((a) => ATTRIBUTE_LABELS[a])];
  const cell = (reference: string, found: string | null, agree: boolean) => (agree ? reference : `**${reference} vs ${found ?? 'none'}**`);
  const rows = [
    ...c.stages.map((s) => [
      `${s.index} (${stageLabel(s.reference)})`,
      `${s.reference.blocks.join(',')} vs ${s.found?.blocks.join(',') ?? 'none'}`,
      ...s.rows.map((row) => cell(row.reference, row.found, row.agree)),
    ]),
    ...c.unmatched.map((s) => [
      `found only (${stageLabel(s)})`,
      `none vs ${s.blocks.join(',')}`,
      ...COMPARED_ATTRIBUTES.map((a) => cell('none', attributeValues(s, a).map(valueText).join('/'), false)),
    ]),
  ];
  return [
    `${c.reference} vs ${c.found}: one value where they agree, \`${c.reference} vs ${c.found}\` in bold where they differ.`,
    '',
    markdownTable(head, rows),
    '',
    ...(options.summary === false ? [] : [comparisonSummary(c), '']),
  ].join('\n');
}
