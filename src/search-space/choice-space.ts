/**
 * Search spaces as specs with choice points (the MnasNet factorized hierarchical space and its
 * MobileNetV3 variant are data files using this schema). A space is an ArchSpec skeleton whose
 * fields may be `{ "choice": [...] }`: a stage (MnasNet's "block") fixes its base width, base layer
 * count and stride and may leave its op, kernel, SE ratio, skip, width multiplier, layer delta and
 * activation to choice; all layers of a stage are identical. A choice vector (one option index per
 * choice point, in order) materialises into a plain, validated ArchSpec.
 */
import { z } from 'zod';
import { InputError } from '../common/errors.js';
import { readJsonFile } from '../common/json-io.js';
import type { Rng } from '../common/rng.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import {
  ACTIVATIONS,
  type Activation,
  ARCHSPEC_SCHEMA_VERSION,
  type ArchSpec,
  type Block,
  KERNEL_SIZES,
  parseArchSpec,
  SE_GATES,
  type SqueezeExcite,
} from './archspec.js';
import { blockUnit, denseUnit, headConvUnit, poolUnit, type Shape, stemUnit, type Unit } from './resolve.js';
import type { ArchSpace } from './space.js';
import { makeDivisible } from './zoo/index.js';

const choiceOf = <T extends z.ZodType>(value: T) => z.union([value, z.strictObject({ choice: z.array(value).min(1) })]);

const Act = z.enum(ACTIVATIONS);
const Kernel = z.literal(KERNEL_SIZES);
/** conv: regular kxk conv; dsconv: depthwise-separable; mbconvN: inverted bottleneck, expansion N. */
const OpName = z.string().regex(/^(conv|dsconv|mbconv\d+(\.\d+)?)$/, 'expected conv, dsconv or mbconv<expansion>');

const StageSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/),
  baseFilters: z.int().positive(),
  baseLayers: z.int().positive(),
  stride: z.literal([1, 2]),
  op: choiceOf(OpName),
  kernel: choiceOf(Kernel),
  seRatio: choiceOf(z.number().min(0).max(1)),
  skip: choiceOf(z.boolean()),
  filterMultiplier: choiceOf(z.number().positive()),
  layerDelta: choiceOf(z.int()),
  activation: choiceOf(Act),
});

export const SearchSpaceSchema = z.strictObject({
  schemaVersion: z.literal(1),
  kind: z.literal('search-space'),
  name: z.string().min(1),
  description: z.string(),
  input: z.strictObject({ resolution: z.int().min(8), channels: z.int().positive() }),
  stem: z.strictObject({ kernel: Kernel, stride: z.literal([1, 2]), out: z.int().positive(), activation: Act }),
  stages: z.array(StageSchema).min(1),
  head: z.strictObject({
    conv: z.strictObject({ out: z.int().positive(), activation: Act }).nullable(),
    preLogits: z.strictObject({ out: z.int().positive(), activation: Act }).nullable(),
  }),
  /** How an SE ratio becomes a squeeze width (MnasNet: floor of ratio x input; V3: divisible-by-8 of ratio x expansion). */
  se: z.strictObject({ base: z.enum(['in', 'mid']), round: z.enum(['floor', '8']), gate: z.enum(SE_GATES), activation: Act }),
  /** Classifier widths the latency table should cover (10 for the proxy task, 1000 for ImageNet). */
  classes: z.array(z.int().positive()).min(1),
  dropout: z.number().min(0).lt(1),
});
export type SearchSpaceDefinition = z.infer<typeof SearchSpaceSchema>;
type Stage = SearchSpaceDefinition['stages'][number];

export const STAGE_FIELDS = ['op', 'kernel', 'seRatio', 'skip', 'filterMultiplier', 'layerDelta', 'activation'] as const;
type StageField = (typeof STAGE_FIELDS)[number];
type StageValues = { [K in StageField]: Exclude<Stage[K], { choice: unknown }> };

export interface ChoicePoint {
  /** e.g. `stages[2].kernel` */
  path: string;
  stage: number;
  field: StageField;
  options: readonly unknown[];
}

const isChoice = (v: unknown): v is { choice: unknown[] } => typeof v === 'object' && v !== null && 'choice' in v;
const optionsOf = <T>(v: T | { choice: T[] }): T[] => (isChoice(v) ? (v.choice as T[]) : [v as T]);

export function parseSearchSpace(data: unknown, source: string): SearchSpaceDefinition {
  return parseWith(SearchSpaceSchema, data, source);
}

export function readSearchSpace(file: string): SearchSpaceDefinition {
  return parseSearchSpace(readJsonFile(file), file);
}

export class ChoiceSpace implements ArchSpace {
  readonly name: string;
  readonly description: string;
  readonly resolution: number;
  readonly choicePoints: ChoicePoint[];

  constructor(readonly definition: SearchSpaceDefinition) {
    this.name = definition.name;
    this.description = definition.description;
    this.resolution = definition.input.resolution;
    this.choicePoints = definition.stages.flatMap((stage, i) =>
      STAGE_FIELDS.filter((field) => isChoice(stage[field])).map((field) => ({
        path: `stages[${i}].${field}`,
        stage: i,
        field,
        options: optionsOf(stage[field] as never) as unknown[],
      })),
    );
  }

  /** log10 of the number of distinct choice vectors. */
  get log10Size(): number {
    return this.choicePoints.reduce((s, c) => s + Math.log10(c.options.length), 0);
  }

  /** A uniformly random choice vector. */
  randomChoices(rng: Rng): number[] {
    return this.choicePoints.map((c) => Math.floor(rng() * c.options.length));
  }

  sample(rng: Rng, resolution = this.resolution): ArchSpec {
    return this.materialise(this.randomChoices(rng), { resolution });
  }

  /** The value of every stage field under a choice vector. */
  stageValues(choices: readonly number[]): StageValues[] {
    if (choices.length !== this.choicePoints.length) {
      throw new InputError(`space ${this.name} has ${this.choicePoints.length} choice points, got a vector of ${choices.length}`);
    }
    const values = this.definition.stages.map(
      (stage) => Object.fromEntries(STAGE_FIELDS.map((f) => [f, isChoice(stage[f]) ? undefined : stage[f]])) as Record<StageField, unknown>,
    );
    this.choicePoints.forEach((c, i) => {
      const index = choices[i]!;
      if (!Number.isInteger(index) || index < 0 || index >= c.options.length) {
        throw new InputError(`choice ${i} (${c.path}) must be 0..${c.options.length - 1}, got ${index}`);
      }
      values[c.stage]![c.field] = c.options[index];
    });
    return values as StageValues[];
  }

  /** The plain ArchSpec of a choice vector. */
  materialise(
    choices: readonly number[],
    options: { resolution?: number; classes?: number; name?: string; command?: string; seed?: number | string | null } = {},
  ): ArchSpec {
    const def = this.definition;
    let channels = def.stem.out;
    const blocks: Block[] = [];
    this.stageValues(choices).forEach((v, s) => {
      const stage = def.stages[s]!;
      const out = stageWidth(stage.baseFilters, v.filterMultiplier);
      const layers = Math.max(1, stage.baseLayers + v.layerDelta);
      for (let l = 0; l < layers; l++) {
        const stride = l === 0 ? stage.stride : 1;
        blocks.push(layerBlock(def, v, `b${blocks.length + 1}`, channels, out, stride));
        channels = out;
      }
    });
    const spec = {
      schemaVersion: ARCHSPEC_SCHEMA_VERSION,
      kind: 'archspec',
      name: options.name ?? `${this.name}-${choices.join('')}`,
      provenance: {
        command: options.command ?? `space ${this.name}`,
        seed: options.seed ?? null,
        tool: TOOL_NAME,
        source: `space ${this.name}`,
        choices: [...choices],
      },
      input: { resolution: options.resolution ?? this.resolution, channels: def.input.channels },
      stem: { id: 'stem', ...def.stem },
      blocks,
      head: {
        conv: def.head.conv && { id: 'head_conv', ...def.head.conv },
        pool: 'avg',
        preLogits: def.head.preLogits && { id: 'head_prelogits', ...def.head.preLogits },
      },
      classes: options.classes ?? def.classes[0]!,
      dropout: def.dropout,
    };
    return parseArchSpec(spec, `space ${this.name}`);
  }

  /** The stem unit at `resolution`. */
  stemUnit(resolution = this.resolution): Unit {
    return stemUnit({ id: 'stem', ...this.definition.stem }, [resolution, resolution, this.definition.input.channels]);
  }

  /**
   * Every way stage `index` can be built on an input of `inShape`: the units of its layers in
   * order, and its output shape (for exact searches over the space, e.g. its fastest member).
   */
  *stageVariants(index: number, inShape: Shape): Iterable<{ units: Unit[]; outShape: Shape }> {
    const def = this.definition;
    const stage = def.stages[index]!;
    for (const v of combinations(stage)) {
      const out = stageWidth(stage.baseFilters, v.filterMultiplier);
      const first = blockUnit(layerBlock(def, v, 'op', inShape[2], out, stage.stride), inShape);
      const repeat = blockUnit(layerBlock(def, v, 'op', out, out, 1), first.outShape);
      for (const delta of optionsOf(stage.layerDelta)) {
        const layers = Math.max(1, stage.baseLayers + delta);
        yield { units: [first, ...Array.from({ length: layers - 1 }, () => repeat)], outShape: first.outShape };
      }
    }
  }

  /** The head units after the last stage (head conv, pooling, pre-logits, classifier). */
  headUnits(inShape: Shape, classes: number): Unit[] {
    const { head } = this.definition;
    const units: Unit[] = [];
    let shape = inShape;
    if (head.conv) {
      units.push(headConvUnit('head_conv', head.conv.out, head.conv.activation, shape));
      shape = units[0]!.outShape;
    }
    units.push(poolUnit(shape));
    let features = shape[2];
    if (head.preLogits) {
      units.push(denseUnit('pre-logits', 'head_prelogits', features, head.preLogits.out, head.preLogits.activation));
      features = head.preLogits.out;
    }
    units.push(denseUnit('classifier', 'classifier', features, classes, null));
    return units;
  }

  /**
   * Every unit a member can contain at `resolution`, for every classifier width of the space:
   * per stage, the first layer from each possible input width, and the repeated layer when the
   * stage can have more than one.
   */
  *units(resolution = this.resolution): Iterable<Unit> {
    const def = this.definition;
    let size: [number, number] = [resolution, resolution];
    const stem = stemUnit({ id: 'stem', ...def.stem }, [resolution, resolution, def.input.channels]);
    yield stem;
    size = [stem.outShape[0], stem.outShape[1]];
    let inputs = new Set([def.stem.out]);
    for (const stage of def.stages) {
      const outs = new Set<number>();
      const outSize: [number, number] = [Math.ceil(size[0] / stage.stride), Math.ceil(size[1] / stage.stride)];
      const repeats = optionsOf(stage.layerDelta).some((d) => stage.baseLayers + d >= 2);
      for (const v of combinations(stage)) {
        const out = stageWidth(stage.baseFilters, v.filterMultiplier);
        outs.add(out);
        for (const input of inputs) yield blockUnit(layerBlock(def, v, 'op', input, out, stage.stride), [size[0], size[1], input]);
        if (repeats) yield blockUnit(layerBlock(def, v, 'op', out, out, 1), [outSize[0], outSize[1], out]);
      }
      inputs = outs;
      size = outSize;
    }
    let features = inputs;
    if (def.head.conv) {
      for (const input of inputs) yield headConvUnit('head_conv', def.head.conv.out, def.head.conv.activation, [size[0], size[1], input]);
      features = new Set([def.head.conv.out]);
    }
    for (const f of features) yield poolUnit([size[0], size[1], f]);
    if (def.head.preLogits) {
      for (const f of features) yield denseUnit('pre-logits', 'head_prelogits', f, def.head.preLogits.out, def.head.preLogits.activation);
      features = new Set([def.head.preLogits.out]);
    }
    for (const f of features) for (const classes of def.classes) yield denseUnit('classifier', 'classifier', f, classes, null);
  }
}

function stageWidth(baseFilters: number, multiplier: number): number {
  return makeDivisible(baseFilters * multiplier);
}

/** One layer of a stage: its block for the given input/output widths and stride. */
function layerBlock(def: SearchSpaceDefinition, v: StageValues, id: string, input: number, out: number, stride: number): Block {
  const expansion = v.op.startsWith('mbconv') ? Number(v.op.slice('mbconv'.length)) : null;
  const exp = expansion === null ? null : Math.max(1, Math.round(input * expansion));
  const mid = exp ?? (v.op === 'dsconv' ? input : out);
  const se: SqueezeExcite | null =
    v.seRatio > 0
      ? { squeeze: squeezeWidth(def, v.seRatio, def.se.base === 'mid' ? mid : input), gate: def.se.gate, activation: def.se.activation }
      : null;
  const common = {
    id,
    kernel: v.kernel,
    stride: stride as 1 | 2,
    out,
    activation: v.activation as Activation,
    se,
    residual: v.skip && stride === 1 && input === out,
  };
  if (exp !== null) return { type: 'bneck', ...common, exp };
  return { type: v.op as 'conv' | 'dsconv', ...common };
}

function squeezeWidth(def: SearchSpaceDefinition, ratio: number, base: number): number {
  return def.se.round === '8' ? makeDivisible(ratio * base) : Math.max(1, Math.floor(ratio * base));
}

/** Every combination of a stage's field values (the layer delta only matters through widths). */
function* combinations(stage: Stage): Iterable<StageValues> {
  const fields = STAGE_FIELDS.filter((f) => f !== 'layerDelta');
  const lists = fields.map((f) => optionsOf(stage[f] as never) as unknown[]);
  const index = lists.map(() => 0);
  for (;;) {
    const v = Object.fromEntries(fields.map((f, i) => [f, lists[i]![index[i]!]])) as Record<string, unknown>;
    yield { ...v, layerDelta: 0 } as StageValues;
    let i = 0;
    while (i < lists.length && ++index[i]! === lists[i]!.length) index[i++] = 0;
    if (i === lists.length) return;
  }
}
