/**
 * Search spaces as specs with choice points (the MnasNet factorized hierarchical space and its
 * MobileNetV3 variant are data files using this schema). A space is an ArchSpec skeleton whose
 * fields may be `{ "choice": [...] }`: a stage (MnasNet's "block") fixes its base width and base
 * layer count and may leave its op, kernel, SE ratio, skip, width multiplier, layer delta,
 * activation and stride (its first layer's: 1 keeps the resolution, 2 halves it) to choice, and the
 * stem may leave its width to choice (TuNAS searches it). By default all layers of a stage are
 * identical (MnasNet); the fields a stage lists in `perLayer` are drawn for each of its layers
 * instead (Once-for-All's kernel and expansion, ProxylessNAS' op), and the op `zero` (a per-layer
 * choice, never a stage's first layer) leaves a layer out. A choice vector (one option index per
 * choice point, in order) materialises into a plain, validated ArchSpec.
 */
import { z } from 'zod';
import { InputError, ValidationError } from '../common/errors.js';
import { otherKindError } from '../common/file-kinds.js';
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
const isChoice = (v: unknown): v is { choice: unknown[] } => typeof v === 'object' && v !== null && 'choice' in v;
const optionsOf = <T>(v: T | { choice: T[] }): T[] => (isChoice(v) ? (v.choice as T[]) : [v as T]);

const Act = z.enum(ACTIVATIONS);
const Kernel = z.literal(KERNEL_SIZES);
/** The op that leaves a layer out (ProxylessNAS' zero op): the layer's input passes on unchanged. */
export const ZERO_OP = 'zero';
/** conv: regular kxk conv; dsconv: depthwise-separable; mbconvN: inverted bottleneck, expansion N; zero: no layer. */
const OpName = z
  .string()
  .regex(/^(conv|dsconv|mbconv\d+(\.\d+)?|zero)$/, 'expected conv, dsconv, mbconv<expansion> or zero (no layer, a per-layer choice)');

// Order matters: it orders a stage's choice points, so a new field goes last (recorded choice vectors stay valid).
export const STAGE_FIELDS = ['op', 'kernel', 'seRatio', 'skip', 'filterMultiplier', 'layerDelta', 'activation', 'stride'] as const;
type StageField = (typeof STAGE_FIELDS)[number];
/** Fields a stage may draw per layer (its width and layer count stay whole-stage choices). */
export const PER_LAYER_FIELDS = ['op', 'kernel', 'seRatio', 'skip', 'activation'] as const satisfies readonly StageField[];

const StageSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/),
  baseFilters: z.int().positive(),
  baseLayers: z.int().positive(),
  stride: choiceOf(z.literal([1, 2])),
  op: choiceOf(OpName),
  kernel: choiceOf(Kernel),
  seRatio: choiceOf(z.number().min(0).max(1)),
  skip: choiceOf(z.boolean()),
  filterMultiplier: choiceOf(z.number().positive()),
  layerDelta: choiceOf(z.int()),
  activation: choiceOf(Act),
  /** Fields whose choice is drawn for each layer of the stage; absent: every layer of the stage is the same. */
  perLayer: z.array(z.enum(PER_LAYER_FIELDS)).optional(),
});

export const SearchSpaceSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    kind: z.literal('search-space'),
    name: z.string().min(1),
    description: z.string(),
    input: z.strictObject({ resolution: z.int().min(8), channels: z.int().positive() }),
    stem: z.strictObject({ kernel: Kernel, stride: z.literal([1, 2]), out: choiceOf(z.int().positive()), activation: Act }),
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
  })
  .superRefine((space, ctx) => {
    space.stages.forEach((stage, i) => {
      for (const issue of stageIssues(stage)) ctx.addIssue({ code: 'custom', path: ['stages', i, ...issue.path], message: issue.message });
    });
  });
export type SearchSpaceDefinition = z.infer<typeof SearchSpaceSchema>;
type Stage = SearchSpaceDefinition['stages'][number];

/** What `perLayer` and the zero op need: listed fields that are choices, once; zero only as a per-layer op beside others. */
function stageIssues(stage: Stage): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const perLayer = stage.perLayer ?? [];
  perLayer.forEach((field, j) => {
    if (perLayer.indexOf(field) !== j) issues.push({ path: ['perLayer', j], message: `${field} is listed twice` });
    else if (!isChoice(stage[field]))
      issues.push({ path: ['perLayer', j], message: `${field} is not a choice in this stage: make it one or drop it from perLayer` });
  });
  const fewest = Math.min(...optionsOf(stage.layerDelta));
  if (stage.baseLayers + fewest < 0)
    issues.push({
      path: ['layerDelta'],
      message: `${fewest} takes the stage's ${stage.baseLayers} base layers to ${stage.baseLayers + fewest}: the lowest delta is -${stage.baseLayers} (0 layers, built as 1: a stage keeps its first layer)`,
    });
  const ops = optionsOf(stage.op);
  if (ops.includes(ZERO_OP)) {
    if (!perLayer.includes('op'))
      issues.push({ path: ['op'], message: 'zero (no layer) is a per-layer choice: add "op" to the stage\'s perLayer' });
    else if (ops.every((op) => op === ZERO_OP))
      issues.push({ path: ['op'], message: "zero needs other ops beside it: a stage's first layer is never left out" });
  }
  return issues;
}

/** The value of every stage field for one layer. */
type LayerValues = { [K in StageField]: Exclude<Stage[K], { choice: unknown }> };

export interface ChoicePoint {
  /** e.g. `stages[2].kernel`, `stages[2].layers[1].kernel` for a per-layer choice, or `stem.out` */
  path: string;
  /** The stage the choice is in; null for the stem's width. */
  stage: number | null;
  /** The layer of the stage a per-layer choice is for; null for a whole-stage choice (and the stem). */
  layer: number | null;
  /** A stage field, or `out` (the stem's width). */
  field: StageField | 'out';
  options: readonly unknown[];
}

/**
 * The alternatives of one layer of a stage variant: its possible units (one unless the stage draws
 * choices per layer) and whether it may be left out (a zero op).
 */
export interface LayerOptions {
  units: Unit[];
  optional: boolean;
}

const perLayerFields = (stage: Stage): ReadonlySet<StageField> => new Set(stage.perLayer ?? []);
/** The most layers the stage can have. */
const maxLayers = (stage: Stage): number => Math.max(1, stage.baseLayers + Math.max(...optionsOf(stage.layerDelta)));

export function parseSearchSpace(data: unknown, source: string): SearchSpaceDefinition {
  const other = otherKindError(data, source, ['search-space'], 'a search space');
  if (other) throw other;
  return parseWith(SearchSpaceSchema, data, source);
}

export function readSearchSpace(file: string): SearchSpaceDefinition {
  return parseSearchSpace(readJsonFile(file), file);
}

/** The stem's choice point: its width, when that is a choice. */
function stemChoicePoints(stem: SearchSpaceDefinition['stem']): ChoicePoint[] {
  return isChoice(stem.out) ? [{ path: 'stem.out', stage: null, layer: null, field: 'out', options: stem.out.choice }] : [];
}

/** A stage's choice points: its whole-stage choices, then each layer's per-layer choices (a first layer is never zero). */
function stageChoicePoints(stage: Stage, index: number): ChoicePoint[] {
  const perLayer = perLayerFields(stage);
  const points: ChoicePoint[] = STAGE_FIELDS.filter((field) => isChoice(stage[field]) && !perLayer.has(field)).map((field) => ({
    path: `stages[${index}].${field}`,
    stage: index,
    layer: null,
    field,
    options: optionsOf(stage[field] as never) as unknown[],
  }));
  for (let layer = 0; perLayer.size > 0 && layer < maxLayers(stage); layer++) {
    for (const field of STAGE_FIELDS.filter((f) => perLayer.has(f))) {
      const options = optionsOf(stage[field] as never) as unknown[];
      points.push({
        path: `stages[${index}].layers[${layer}].${field}`,
        stage: index,
        layer,
        field,
        options: layer === 0 && field === 'op' ? options.filter((o) => o !== ZERO_OP) : options,
      });
    }
  }
  return points;
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
    this.choicePoints = [...stemChoicePoints(definition.stem), ...definition.stages.flatMap(stageChoicePoints)];
  }

  /** log10 of the number of distinct choice vectors. */
  get log10Size(): number {
    return this.choicePoints.reduce((s, c) => s + Math.log10(c.options.length), 0);
  }

  /**
   * log10 of the number of distinct members: choice vectors without the choices of layers a member
   * lacks (beyond its depth, or left out by a zero op). Options that build the same network anyway
   * (a skip where shapes allow no residual) still count apart.
   */
  get log10Members(): number {
    const stems = optionsOf(this.definition.stem.out).length;
    return this.definition.stages.reduce((s, stage) => s + Math.log10(stageMembers(stage)), Math.log10(stems));
  }

  /** A uniformly random choice vector. */
  randomChoices(rng: Rng): number[] {
    return this.choicePoints.map((c) => Math.floor(rng() * c.options.length));
  }

  sample(rng: Rng, resolution = this.resolution): ArchSpec {
    return this.materialise(this.randomChoices(rng), { resolution });
  }

  /** Refuses an input size no member can take (an ArchSpec's input is 8 px at least). */
  checkResolution(resolution: number): void {
    try {
      this.materialise(
        this.choicePoints.map(() => 0),
        { resolution },
      );
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      throw new InputError(
        `no member of space ${this.name} takes a ${resolution}x${resolution} input (${err.issues.map((i) => i.message).join('; ')})`,
      );
    }
  }

  /**
   * The values of every layer of every stage under a choice vector: per stage, one entry per layer
   * the member has (its layer delta applied), zero layers included.
   */
  layerValues(choices: readonly number[]): LayerValues[][] {
    this.checkChoices(choices);
    const stages = this.definition.stages;
    const whole = stages.map(
      (stage) => Object.fromEntries(STAGE_FIELDS.map((f) => [f, isChoice(stage[f]) ? undefined : stage[f]])) as Record<StageField, unknown>,
    );
    const layers = stages.map((stage) => Array.from({ length: maxLayers(stage) }, () => ({}) as Partial<Record<StageField, unknown>>));
    this.choicePoints.forEach((c, i) => {
      if (c.stage === null) return;
      const field = c.field as StageField;
      if (c.layer === null) whole[c.stage]![field] = c.options[choices[i]!];
      else layers[c.stage]![c.layer]![field] = c.options[choices[i]!];
    });
    return stages.map((stage, s) => {
      const count = Math.max(1, stage.baseLayers + (whole[s]!.layerDelta as number));
      return layers[s]!.slice(0, count).map((own) => ({ ...whole[s]!, ...own }) as LayerValues);
    });
  }

  /** The stem's width under a choice vector. */
  stemWidth(choices: readonly number[]): number {
    this.checkChoices(choices);
    return this.chosenStemWidth(choices);
  }

  /** The stem's width under a choice vector already checked. */
  private chosenStemWidth(choices: readonly number[]): number {
    const point = this.choicePoints.findIndex((c) => c.stage === null);
    return point < 0 ? (this.definition.stem.out as number) : (this.choicePoints[point]!.options[choices[point]!] as number);
  }

  /** A choice vector of this space: one valid option index per choice point. */
  private checkChoices(choices: readonly number[]): void {
    if (choices.length !== this.choicePoints.length) {
      throw new InputError(`space ${this.name} has ${this.choicePoints.length} choice points, got a vector of ${choices.length}`);
    }
    this.choicePoints.forEach((c, i) => {
      const index = choices[i]!;
      if (!Number.isInteger(index) || index < 0 || index >= c.options.length) {
        throw new InputError(`choice ${i} (${c.path}) must be 0..${c.options.length - 1}, got ${index}`);
      }
    });
  }

  /**
   * Where each block of a member sits in its stage: block id (`b1`, `b2`, ... as `materialise`
   * numbers them) to the stage and the layer position (zero layers keep their position).
   */
  blockPlaces(choices: readonly number[]): Map<string, { stage: number; position: number }> {
    const places = new Map<string, { stage: number; position: number }>();
    this.layerValues(choices).forEach((layers, stage) => {
      layers.forEach((v, position) => {
        if (v.op !== ZERO_OP) places.set(`b${places.size + 1}`, { stage, position });
      });
    });
    return places;
  }

  /** The plain ArchSpec of a choice vector. */
  materialise(
    choices: readonly number[],
    options: { resolution?: number; classes?: number; name?: string; command?: string; seed?: number | string | null } = {},
  ): ArchSpec {
    const def = this.definition;
    const stageLayers = this.layerValues(choices); // checks the vector
    const stemOut = this.chosenStemWidth(choices);
    let channels = stemOut;
    const blocks: Block[] = [];
    stageLayers.forEach((layers, s) => {
      const stage = def.stages[s]!;
      layers.forEach((v, l) => {
        if (v.op === ZERO_OP) return;
        const out = stageWidth(stage.baseFilters, v.filterMultiplier);
        blocks.push(layerBlock(def, v, `b${blocks.length + 1}`, channels, out, l === 0 ? v.stride : 1));
        channels = out;
      });
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
      stem: { id: 'stem', ...def.stem, out: stemOut },
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

  /** The stem's units at `resolution`: one per width it can have. */
  stemUnits(resolution = this.resolution): Unit[] {
    const { stem, input } = this.definition;
    return optionsOf(stem.out).map((out) => stemUnit({ id: 'stem', ...stem, out }, [resolution, resolution, input.channels]));
  }

  /**
   * Every way stage `index` can be built on an input of `inShape`, by its whole-stage values and
   * layer count: each layer's alternatives in order, and the stage's output shape (for exact
   * searches over the space, e.g. its fastest member: layers drawn per layer are independent).
   */
  *stageVariants(index: number, inShape: Shape): Iterable<{ layers: LayerOptions[]; outShape: Shape }> {
    const def = this.definition;
    const stage = def.stages[index]!;
    const perLayer = perLayerFields(stage);
    const ownChoices = [...combinations(stage, (f) => perLayer.has(f))];
    const zero = ownChoices.some((own) => own.op === ZERO_OP);
    const built = ownChoices.filter((own) => own.op !== ZERO_OP);
    for (const whole of combinations(stage, (f) => f !== 'layerDelta' && !perLayer.has(f))) {
      const values = built.map((own) => ({ ...whole, ...own, layerDelta: 0 }) as LayerValues);
      const out = stageWidth(stage.baseFilters, values[0]!.filterMultiplier);
      const first = values.map((v) => blockUnit(layerBlock(def, v, 'op', inShape[2], out, v.stride), inShape));
      const outShape = first[0]!.outShape;
      const firstLayer: LayerOptions = { units: first, optional: false };
      const repeat: LayerOptions = { units: values.map((v) => blockUnit(layerBlock(def, v, 'op', out, out, 1), outShape)), optional: zero };
      for (const delta of optionsOf(stage.layerDelta)) {
        const layers = Math.max(1, stage.baseLayers + delta);
        yield { layers: [firstLayer, ...Array.from({ length: layers - 1 }, () => repeat)], outShape };
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
   * per stage, the first layer from each possible input shape (width, and size where strides are
   * choices), and the repeated layer when the stage can have more than one.
   */
  *units(resolution = this.resolution): Iterable<Unit> {
    const def = this.definition;
    const stems = this.stemUnits(resolution);
    yield* stems;
    // The shapes a stage's input can have: widths, and sizes where strides are choices.
    let inputs: Shape[] = stems.map((stem) => stem.outShape);
    for (const stage of def.stages) {
      const outputs = new Map<string, Shape>();
      const repeats = maxLayers(stage) >= 2;
      for (const v of combinations(stage, (f) => f !== 'layerDelta')) {
        if (v.op === ZERO_OP) continue;
        const values = { ...v, layerDelta: 0 } as LayerValues;
        const out = stageWidth(stage.baseFilters, values.filterMultiplier);
        const outShapes = new Map<string, Shape>();
        for (const input of inputs) {
          const first = blockUnit(layerBlock(def, values, 'op', input[2], out, values.stride), input);
          yield first;
          outShapes.set(first.outShape.join('x'), first.outShape);
        }
        if (repeats) for (const shape of outShapes.values()) yield blockUnit(layerBlock(def, values, 'op', out, out, 1), shape);
        for (const [key, shape] of outShapes) outputs.set(key, shape);
      }
      inputs = [...outputs.values()];
    }
    yield* this.headUnitsOf(inputs);
  }

  /** The head units from every shape the last stage can output, for every classifier width of the space. */
  private *headUnitsOf(inputs: readonly Shape[]): Iterable<Unit> {
    const def = this.definition;
    let features: Shape[] = [...inputs];
    if (def.head.conv) {
      const conv = def.head.conv;
      const convs = inputs.map((shape) => headConvUnit('head_conv', conv.out, conv.activation, shape));
      yield* convs;
      features = [...new Map(convs.map((u) => [u.outShape.join('x'), u.outShape])).values()];
    }
    for (const shape of features) yield poolUnit(shape);
    let widths = new Set(features.map((shape) => shape[2]));
    if (def.head.preLogits) {
      for (const f of widths) yield denseUnit('pre-logits', 'head_prelogits', f, def.head.preLogits.out, def.head.preLogits.activation);
      widths = new Set([def.head.preLogits.out]);
    }
    for (const f of widths) for (const classes of def.classes) yield denseUnit('classifier', 'classifier', f, classes, null);
  }
}

function stageWidth(baseFilters: number, multiplier: number): number {
  return makeDivisible(baseFilters * multiplier);
}

/** One layer of a stage: its block for the given input/output widths and stride. */
function layerBlock(def: SearchSpaceDefinition, v: LayerValues, id: string, input: number, out: number, stride: number): Block {
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

/** Every combination of the values of the stage fields `include` selects (one empty combination when it selects none). */
function* combinations(stage: Stage, include: (field: StageField) => boolean): Iterable<Partial<Record<StageField, unknown>>> {
  const fields = STAGE_FIELDS.filter(include);
  const lists = fields.map((f) => optionsOf(stage[f] as never) as unknown[]);
  const index = lists.map(() => 0);
  for (;;) {
    yield Object.fromEntries(fields.map((f, i) => [f, lists[i]![index[i]!]]));
    let i = 0;
    while (i < lists.length && ++index[i]! === lists[i]!.length) index[i++] = 0;
    if (i === lists.length) return;
  }
}

/**
 * Distinct members of one stage: per combination of its whole-stage values, the first layer's
 * alternatives times the distinct sequences of later layers (zero layers collapsed, so a
 * sequence is its non-zero layers, of any length up to the stage's).
 */
function stageMembers(stage: Stage): number {
  const perLayer = perLayerFields(stage);
  const count = (include: (f: StageField) => boolean) => STAGE_FIELDS.filter(include).reduce((n, f) => n * optionsOf(stage[f]).length, 1);
  const whole = count((f) => f !== 'layerDelta' && !perLayer.has(f));
  const ops = optionsOf(stage.op);
  const zero = perLayer.has('op') && ops.includes(ZERO_OP);
  const own = count((f) => perLayer.has(f) && f !== 'op') * (perLayer.has('op') ? ops.filter((op) => op !== ZERO_OP).length : 1);
  const lengths = new Set<number>();
  for (const delta of optionsOf(stage.layerDelta)) {
    const later = Math.max(1, stage.baseLayers + delta) - 1;
    for (let k = zero ? 0 : later; k <= later; k++) lengths.add(k);
  }
  return whole * own * [...lengths].reduce((n, k) => n + own ** k, 0);
}
