/**
 * Block strings: the compact notations of timm (`ir_r2_k3_s1_e6_c112_se0.25`) and of the MnasNet
 * reference code (`r2_k3_s22_e6_i16_o24_se0.25`), wrapped in a small text document that also
 * carries what the strings leave implicit (input, stem, head, SE rule, width rule). Export then
 * import gives back an equal spec: the encoder checks every string against the decoder and adds
 * explicit tokens (`sq<n>` squeeze width, `skip`/`noskip`, `n<act>`) wherever the defaults would
 * differ. The format, and where it differs from timm, is described for users in docs/block-strings.md.
 *
 * Document:
 *   format: timm | mnasnet
 *   name: mobilenetv3-large-1.0
 *   input: 224x224x3
 *   classes: 1000
 *   dropout: 0.2
 *   act: hswish                        default block activation (blocks say `nre` etc. otherwise)
 *   se: gate=hsigmoid act=relu base=mid round=8     or a timm model family: mobilenetv3 | efficientnet
 *   widths: exact                      (timm only) widths as written, not timm's rounding (see below)
 *   stem: cn_r1_k3_s2_c16_nhs
 *   arch_def:                          (`blocks:` in mnasnet format; `arch_def = [` as pasted from timm)
 *     ['ds_r1_k3_s1_e1_c16_nre'],      one stage per line; Python list syntax is accepted
 *   head: cn_r1_k1_s1_c960_nhs, fc_c1280_nhs
 *   ids: stem b1 b2 ... head_conv head_prelogits   (only when not the canonical ids)
 *   task: {"type": "segmentation", ...}             (dense-prediction networks: the spec's task, as JSON)
 *   provenance: {"command": ..., "deployment": ...} (the spec's provenance, as JSON; without it, this import's)
 *
 * Tokens: type `ds|ir|cn` (timm: required; mnasnet: inferred from e, e1 = ds), r repeats, k kernel,
 * s stride (`s2` or `s22`), d dilation, e expansion ratio, c / o output width, i input width
 * (mnasnet), se SE ratio, sq absolute SE width, n<re|r6|hs|sw> activation, skip / noskip. Residual
 * default: ir/ds when stride 1 and widths match; cn never.
 *
 * Widths. `widths: timm`, the default of `format: timm`, builds what timm's EfficientNetBuilder
 * builds: `c` through make_divisible(c, 8) and an ir block's expansion as make_divisible(in x e, 8).
 * `widths: exact` (and the mnasnet format) reads `c`/`o` as written and the expansion as
 * round(in x e). The stem and head lines are this tool's (timm takes them from the model function)
 * and are always read as written. timm applies a stride to the first block of a stage only, so in
 * the timm format a stride above 1 on a later string of a stage line is refused.
 *
 * SE. timm's arch_def says only `se0.25`; the squeeze-excite layer is the model function's, so a
 * timm document with SE needs an `se:` line: `mobilenetv3` (hard-sigmoid gate, ReLU, ratio x the
 * expanded width made divisible by 8) or `efficientnet` (timm's EfficientNet class, used by
 * mnasnet_* and semnasnet_* too: sigmoid gate, the block's activation, round(ratio / e x the
 * expanded width)), or the rule spelled out. The mnasnet format defaults to its reference code's
 * rule (sigmoid, ReLU, max(1, floor(ratio x input width))).
 */
import { InputError } from '../common/errors.js';
import { TOOL_NAME } from '../common/version.js';
import {
  type Activation,
  ARCHSPEC_SCHEMA_VERSION,
  type ArchSpec,
  type Block,
  type BlockBody,
  parseArchSpec,
  type SqueezeExcite,
} from './archspec.js';
import { makeDivisible } from './zoo/assemble.js';

export const BLOCK_STRING_FORMATS = ['timm', 'mnasnet'] as const;
export type BlockStringFormat = (typeof BLOCK_STRING_FORMATS)[number];

const ACT_CODES: Record<Activation, string> = { relu: 're', relu6: 'r6', hswish: 'hs', swish: 'sw' };
const CODE_ACTS = Object.fromEntries(Object.entries(ACT_CODES).map(([a, c]) => [c, a as Activation]));
const TYPE_CODES: Record<Block['type'], string> = { conv: 'cn', dsconv: 'ds', bneck: 'ir' };
const CODE_TYPES: Record<string, Block['type']> = { cn: 'conv', ds: 'dsconv', ir: 'bneck' };

/** How an SE ratio becomes a squeeze width: ratio x base channels, then rounded. */
export interface SeRule {
  gate: SqueezeExcite['gate'];
  /** The activation between the SE layers; `block`: the block's own (timm's EfficientNet). */
  activation: Activation | 'block';
  /** `mid`: the channels SE acts on (V3); `in`: the layer's input channels (MnasNet, EfficientNet). */
  base: 'mid' | 'in';
  /**
   * `8`: make divisible by 8 (V3); `floor`: max(1, floor(x)) (the MnasNet reference code);
   * `nearest`: Python's round(), as timm's SqueezeExcite, which with base `in` computes an ir
   * block's width as round(ratio / e x expanded width).
   */
  round: '8' | 'floor' | 'nearest';
}

/** The SE layers of timm's model families, by name (`se: mobilenetv3`). */
export const SE_PRESETS = {
  mobilenetv3: { gate: 'hsigmoid', activation: 'relu', base: 'mid', round: '8' },
  efficientnet: { gate: 'sigmoid', activation: 'block', base: 'in', round: 'nearest' },
} as const satisfies Record<string, SeRule>;

/** The rule of the MnasNet reference code: the mnasnet format's default. */
const MNASNET_SE_RULE: SeRule = { gate: 'sigmoid', activation: 'relu', base: 'in', round: 'floor' };

/** `timm`: widths rounded as timm builds them; `exact`: as written. */
export type WidthRule = 'timm' | 'exact';

interface Context {
  format: BlockStringFormat;
  act: Activation;
  /** null: a timm document without an `se:` line (an SE ratio is then refused). */
  se: SeRule | null;
  widths: WidthRule;
}

const NO_SE_RULE =
  'timm\'s arch_def leaves the SE layer to the model: add an "se:" line, "se: mobilenetv3" (timm\'s mobilenetv3_*) or ' +
  '"se: efficientnet" (timm\'s efficientnet_*, mnasnet_*, semnasnet_*); see docs/block-strings.md';

/** An output width as the format builds it (timm: make_divisible(c, 8)). */
function outWidth(written: number, ctx: Pick<Context, 'widths'>): number {
  return ctx.widths === 'timm' ? makeDivisible(written) : written;
}

/** An ir block's expanded width (timm: make_divisible(in x e, 8)). */
function expWidth(inChannels: number, ratio: number, ctx: Pick<Context, 'widths'>): number {
  return ctx.widths === 'timm' ? makeDivisible(inChannels * ratio) : Math.round(inChannels * ratio);
}

/** What an SE width is computed from: the block's input and SE-side widths, and its expansion ratio (ir blocks). */
interface SeBase {
  in: number;
  mid: number;
  ratio?: number;
}

function squeezeWidth(seRatio: number, rule: SeRule, base: SeBase): number {
  if (rule.round === 'nearest') {
    // timm's se_from_exp=False divides the ratio by the expansion and applies it to the expanded width.
    const value = rule.base === 'mid' ? base.mid * seRatio : base.ratio ? base.mid * (seRatio / base.ratio) : base.in * seRatio;
    return roundHalfEven(value);
  }
  const value = seRatio * (rule.base === 'mid' ? base.mid : base.in);
  return rule.round === '8' ? makeDivisible(value) : Math.max(1, Math.floor(value));
}

/** Python's round(): to the nearest integer, halves to the even one. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return fraction < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

const seActivation = (rule: SeRule, blockActivation: Activation): Activation =>
  rule.activation === 'block' ? blockActivation : rule.activation;

// ---------------------------------------------------------------------------------------------
// One block string

interface ParsedTokens {
  type?: string;
  values: Map<string, number>;
  act?: Activation;
  skip?: boolean;
}

const VALUE_TOKEN = /^(se|sq|r|k|s|d|e|c|i|o)(\d+(?:\.\d+)?)$/;

function tokenize(text: string): ParsedTokens {
  const parts = text.split('_').filter(Boolean);
  const parsed: ParsedTokens = { values: new Map() };
  if (parts[0] && /^[a-z]+$/.test(parts[0]) && !['skip', 'noskip'].includes(parts[0])) parsed.type = parts.shift()!;
  for (const part of parts) {
    const value = VALUE_TOKEN.exec(part);
    if (value) {
      let number = Number(value[2]);
      // MnasNet writes strides as two digits (s22): both must agree.
      if (value[1] === 's' && value[2]!.length === 2) {
        if (value[2]![0] !== value[2]![1]) throw new Error(`token "${part}": different strides per axis are not supported`);
        number = Number(value[2]![0]);
      }
      parsed.values.set(value[1]!, number);
    } else if (part === 'skip' || part === 'noskip') {
      parsed.skip = part === 'skip';
    } else if (part.startsWith('n') && CODE_ACTS[part.slice(1)]) {
      parsed.act = CODE_ACTS[part.slice(1)];
    } else {
      throw new Error(`unknown token "${part}"`);
    }
  }
  return parsed;
}

function required(tokens: ParsedTokens, key: string, what: string): number {
  const value = tokens.values.get(key);
  if (value === undefined) throw new Error(`missing ${key}<${what}>`);
  return value;
}

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got ${value}`);
  return value;
}

/** Decodes one block string (with its repeats) given the input width; returns the blocks. */
export function decodeBlockString(text: string, inChannels: number, ctx: Context): BlockBody[] {
  const tokens = tokenize(text);
  const type = blockType(tokens, ctx.format);
  const repeats = positiveInt(tokens.values.get('r') ?? 1, 'repeats (r)');
  const kernel = required(tokens, 'k', 'kernel');
  const stride = tokens.values.get('s') ?? 1;
  const out = outWidth(positiveInt(required(tokens, ctx.format === 'timm' ? 'c' : 'o', 'output width'), 'output width'), ctx);
  const ratio = tokens.values.get('e');
  if (ctx.format === 'mnasnet') {
    const declared = required(tokens, 'i', 'input width');
    if (declared !== inChannels) throw new Error(`input width i${declared} does not match the previous output width ${inChannels}`);
  }
  if (type === 'bneck' && ratio === undefined) throw new Error('missing e<expansion ratio>');
  const seRatio = tokens.values.get('se');
  const squeeze = tokens.values.get('sq');
  const rule = seRatio !== undefined || squeeze !== undefined ? (ctx.se ?? fail(NO_SE_RULE)) : null;
  const activation = tokens.act ?? ctx.act;
  const dilation = tokens.values.get('d');

  const blocks: BlockBody[] = [];
  let channels = inChannels;
  for (let n = 0; n < repeats; n++) {
    const layerStride = n === 0 ? stride : 1;
    const exp = type === 'bneck' ? positiveInt(expWidth(channels, ratio!, ctx), 'expansion width') : undefined;
    const mid = type === 'bneck' ? exp! : type === 'dsconv' ? channels : out;
    const base = { in: channels, mid, ratio: type === 'bneck' ? ratio : undefined };
    const se = rule ? seFor(seRatio, squeeze, base, rule, activation) : null;
    const residualDefault = type !== 'conv' && layerStride === 1 && channels === out;
    const block = {
      type,
      kernel,
      stride: layerStride,
      out,
      activation,
      se,
      residual: tokens.skip ?? residualDefault,
      ...(dilation ? { dilation } : {}),
    };
    blocks.push((type === 'bneck' ? { ...block, exp } : block) as BlockBody);
    channels = out;
  }
  return blocks;
}

function fail(message: string): never {
  throw new Error(message);
}

function blockType(tokens: ParsedTokens, format: BlockStringFormat): Block['type'] {
  if (tokens.type !== undefined) {
    const type = CODE_TYPES[tokens.type];
    if (!type) throw new Error(`unsupported block type "${tokens.type}" (expected ds, ir or cn)`);
    return type;
  }
  if (format === 'timm') throw new Error('missing block type (ds, ir or cn)');
  return tokens.values.get('e') === 1 ? 'dsconv' : 'bneck';
}

function seFor(ratio: number | undefined, squeeze: number | undefined, base: SeBase, rule: SeRule, blockAct: Activation): SqueezeExcite {
  const width = squeeze ?? squeezeWidth(ratio!, rule, base);
  return { squeeze: positiveInt(width, 'SE width'), gate: rule.gate, activation: seActivation(rule, blockAct) };
}

/** The expansion ratio written for a bottleneck: the shortest decimal that the document's width rule turns into its width. */
function expansionRatio(block: BlockBody, inChannels: number, ctx: Pick<Context, 'widths'>): number | undefined {
  if (block.type !== 'bneck') return undefined;
  return shortestDecimal(block.exp / inChannels, (r) => expWidth(inChannels, r, ctx) === block.exp);
}

/** Encodes one block as a single-repeat string. */
function encodeBlock(block: BlockBody, inChannels: number, ctx: Context): string {
  const tokens: string[] = [];
  const typeCode = TYPE_CODES[block.type];
  const ratioOne = block.type === 'bneck' && block.exp === inChannels;
  if (ctx.format === 'timm' || block.type === 'conv' || ratioOne) tokens.push(typeCode);
  tokens.push('r1', `k${block.kernel}`, ctx.format === 'timm' ? `s${block.stride}` : `s${block.stride}${block.stride}`);
  const ratio = expansionRatio(block, inChannels, ctx);
  if (ratio !== undefined) tokens.push(`e${ratio}`);
  else if (block.type === 'dsconv') tokens.push('e1');
  if (ctx.format === 'mnasnet') tokens.push(`i${inChannels}`);
  tokens.push(ctx.format === 'timm' ? `c${block.out}` : `o${block.out}`);
  if ((block.dilation ?? 1) > 1) tokens.push(`d${block.dilation}`);
  if (block.se) tokens.push(encodeSe(block, inChannels, ratio, ctx.se!));
  if (block.activation !== ctx.act) tokens.push(`n${ACT_CODES[block.activation]}`);
  const residualDefault = block.type !== 'conv' && block.stride === 1 && inChannels === block.out;
  if (block.residual !== residualDefault) tokens.push(block.residual ? 'skip' : 'noskip');
  return tokens.join('_');
}

function encodeSe(block: BlockBody, inChannels: number, expRatio: number | undefined, rule: SeRule): string {
  const se = block.se!;
  const mid = block.type === 'bneck' ? block.exp : block.type === 'dsconv' ? inChannels : block.out;
  const base: SeBase = { in: inChannels, mid, ratio: expRatio };
  const fits = (r: number) => r > 0 && squeezeWidth(r, rule, base) === se.squeeze;
  const activation = seActivation(rule, block.activation);
  if (se.gate !== rule.gate || se.activation !== activation) {
    throw new Error(`SE gate/activation ${se.gate}/${se.activation} differs from the document's ${rule.gate}/${activation}`);
  }
  if (fits(0.25)) return 'se0.25';
  const ratio = shortestDecimal(se.squeeze / (rule.base === 'mid' ? mid : inChannels), fits);
  return fits(ratio) ? `se${ratio}` : `sq${se.squeeze}`;
}

/** The decimal with fewest digits (up to 6) near `value` that satisfies `ok`, else `value` itself. */
function shortestDecimal(value: number, ok: (candidate: number) => boolean): number {
  for (let digits = 0; digits <= 6; digits++) {
    const candidate = Number(value.toFixed(digits));
    if (ok(candidate)) return candidate;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Whole documents

const canonicalBlockId = (i: number) => `b${i + 1}`;

/** Renders a spec as a block-string document in the given format. */
export function exportBlockStrings(spec: ArchSpec, format: BlockStringFormat): string {
  const widths: WidthRule = format === 'timm' && timmBuildsAsWritten(spec) ? 'timm' : 'exact';
  const base = { format, act: mostCommonActivation(spec), widths };
  const se = chooseSeRule(spec, base);
  const ctx: Context = { ...base, se };
  const stages = groupBlocks(spec, ctx);
  const { head, stem } = spec;
  const io = (width: number) => (format === 'timm' ? `c${width}` : `o${width}`);
  const stride = (s: number) => (format === 'timm' ? `s${s}` : `s${s}${s}`);
  const headItems = [
    head.conv ? `cn_r1_k1_${stride(1)}_${io(head.conv.out)}_n${ACT_CODES[head.conv.activation]}` : null,
    head.preLogits ? `fc_${io(head.preLogits.out)}_n${ACT_CODES[head.preLogits.activation]}` : null,
  ].filter((item): item is string => item !== null);
  const lines = [
    `# ${spec.name}: ${format === 'timm' ? 'timm-style arch_def' : 'MnasNet block strings'}, written by ${TOOL_NAME}`,
    `format: ${format}`,
    `name: ${spec.name}`,
    `input: ${spec.input.resolution}x${spec.input.resolution}x${spec.input.channels}`,
    `classes: ${spec.classes}`,
    `dropout: ${spec.dropout}`,
    `act: ${ctx.act}`,
    `se: gate=${se.gate} act=${se.activation} base=${se.base} round=${se.round}`,
    ...(format === 'timm' && widths === 'exact'
      ? ['# widths as written: timm rounds c and in x e to multiples of 8, so it would not build these widths', 'widths: exact']
      : []),
    `stem: cn_r1_k${stem.kernel}_${stride(stem.stride)}_${io(stem.out)}_n${ACT_CODES[stem.activation]}`,
    format === 'timm' ? 'arch_def:' : 'blocks:',
    ...stages.map((stage) => (format === 'timm' ? `  [${stage.map((s) => `'${s}'`).join(', ')}],` : stage.map((s) => `  ${s}`).join('\n'))),
    `head: ${headItems.join(', ') || 'none'}`,
    ...(spec.task ? [`task: ${JSON.stringify(spec.task)}`] : []),
    `provenance: ${JSON.stringify(spec.provenance)}`,
  ];
  const ids = [
    spec.stem.id,
    ...spec.blocks.map((b) => b.id),
    ...(head.conv ? [head.conv.id] : []),
    ...(head.preLogits ? [head.preLogits.id] : []),
  ];
  if (ids.join(' ') !== canonicalIds(spec.blocks.length, head.conv !== null, head.preLogits !== null).join(' '))
    lines.push(`ids: ${ids.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Whether timm's width rounding keeps every block width of the spec (multiples of 8). */
function timmBuildsAsWritten(spec: ArchSpec): boolean {
  const kept = (width: number) => makeDivisible(width) === width;
  return spec.blocks.every((b) => kept(b.out) && (b.type !== 'bneck' || kept(b.exp)));
}

function canonicalIds(blocks: number, headConv: boolean, preLogits: boolean): string[] {
  return [
    'stem',
    ...Array.from({ length: blocks }, (_, i) => canonicalBlockId(i)),
    ...(headConv ? ['head_conv'] : []),
    ...(preLogits ? ['head_prelogits'] : []),
  ];
}

/** Groups blocks into stages (same output width) of repeated strings, checked against the decoder. */
function groupBlocks(spec: ArchSpec, ctx: Context): string[][] {
  const stages: string[][] = [];
  let channels = spec.stem.out;
  let lastOut = -1;
  for (let i = 0; i < spec.blocks.length; ) {
    const first = stripId(spec.blocks[i]!);
    const single = encodeBlock(first, channels, ctx);
    let repeats = 1;
    let text = single;
    while (i + repeats < spec.blocks.length) {
      const candidate = single.replace(/(^|_)r1(?=_)/, `$1r${repeats + 1}`);
      const actual = spec.blocks.slice(i, i + repeats + 1).map(stripId);
      if (!decodesTo(candidate, channels, ctx, actual)) break;
      repeats++;
      text = candidate;
    }
    // timm applies a stride to the first block of a stage only.
    if (first.out !== lastOut || first.stride > 1 || ctx.format === 'mnasnet') stages.push([]);
    stages[stages.length - 1]!.push(text);
    channels = first.out;
    lastOut = first.out;
    i += repeats;
  }
  return stages;
}

function decodesTo(text: string, inChannels: number, ctx: Context, expected: BlockBody[]): boolean {
  try {
    return JSON.stringify(decodeBlockString(text, inChannels, ctx)) === JSON.stringify(expected);
  } catch {
    return false; // e.g. a repeat whose expansion would round to zero
  }
}

function stripId(block: Block): BlockBody {
  const { id: _id, ...rest } = block;
  return rest;
}

function mostCommonActivation(spec: ArchSpec): Activation {
  const counts = new Map<Activation, number>();
  for (const block of spec.blocks) counts.set(block.activation, (counts.get(block.activation) ?? 0) + 1);
  let best: Activation = spec.stem.activation;
  for (const [act, count] of counts) if (count > (counts.get(best) ?? 0)) best = act;
  return best;
}

/** The SE rule under which most squeeze widths read as the usual `se0.25` (the format's own rule on ties). */
function chooseSeRule(spec: ArchSpec, ctx: Omit<Context, 'se'>): SeRule {
  const first = spec.blocks.find((b) => b.se)?.se;
  const candidates: SeRule[] =
    ctx.format === 'timm' ? [SE_PRESETS.mobilenetv3, SE_PRESETS.efficientnet, MNASNET_SE_RULE] : [MNASNET_SE_RULE, SE_PRESETS.mobilenetv3];
  if (!first) return candidates[0]!;
  const rules = candidates.map((r): SeRule => ({ ...r, gate: first.gate, activation: first.activation }));
  let channels = spec.stem.out;
  const misses = rules.map(() => 0);
  for (const block of spec.blocks) {
    if (block.se) {
      const body = stripId(block);
      const ratio = expansionRatio(body, channels, ctx);
      rules.forEach((rule, r) => {
        if (encodeSe(body, channels, ratio, rule) !== 'se0.25') misses[r]!++;
      });
    }
    channels = block.out;
  }
  return rules[misses.indexOf(Math.min(...misses))]!;
}

/** The lines a document must have beside its strings. */
const REQUIRED_LINES = ['format', 'input', 'stem', 'head'];

/** Parses a block-string document back into a validated ArchSpec. */
export function importBlockStrings(text: string, file = '<block strings>', command = 'nas convert'): ArchSpec {
  const doc = new DocumentReader(parseDocument(text, file), file);
  const missing = REQUIRED_LINES.filter((key) => !doc.get(key));
  if (missing.length)
    doc.fail(
      0,
      `missing ${missing.map((key) => `"${key}:"`).join(', ')} line${missing.length > 1 ? 's' : ''}: the strings sit in a document that says what they leave to the model function (${REQUIRED_LINES.join(', ')}; se with SE); see docs/block-strings.md`,
    );
  const ctx = readContext(doc);
  const input = readInput(doc);
  const stem = readStem(doc, ctx);
  const blocks = readBlocks(doc, ctx, stem.out);
  const head = readHead(doc, ctx);
  const takeId = idSource(doc, blocks.length, head);
  const task = doc.get('task');
  const provenance = doc.get('provenance');
  const spec = {
    schemaVersion: ARCHSPEC_SCHEMA_VERSION,
    kind: 'archspec',
    name: doc.get('name')?.value ?? 'imported',
    provenance: provenance
      ? decodeLine(provenance.value, provenance.line, doc.fail, () => JSON.parse(provenance.value) as unknown)
      : { command, seed: null, tool: TOOL_NAME, source: `${ctx.format} block strings` },
    input,
    stem: { id: takeId(), ...stem },
    blocks: blocks.map((b) => ({ id: takeId(), ...b })),
    head: {
      conv: head.conv && { id: takeId(), ...head.conv },
      pool: 'avg',
      preLogits: head.preLogits && { id: takeId(), ...head.preLogits },
    },
    classes: doc.number('classes', 1000),
    dropout: doc.number('dropout', 0.2),
    ...(task ? { task: decodeLine(task.value, task.line, doc.fail, () => JSON.parse(task.value) as unknown) } : {}),
  };
  return parseArchSpec(spec, file);
}

type Fail = (line: number, message: string) => never;
interface HeadLayers {
  conv: null | { out: number; activation: Activation };
  preLogits: null | { out: number; activation: Activation };
}

/** The fields of a parsed document, with errors that name the file and line. */
class DocumentReader {
  constructor(
    readonly doc: ParsedDocument,
    readonly file: string,
  ) {}

  readonly fail: Fail = (line, message) => {
    throw new InputError(`${this.file}: ${line ? `line ${line}: ` : ''}${message}`);
  };

  get(key: string) {
    return this.doc.fields.get(key);
  }

  need(key: string) {
    return this.get(key) ?? this.fail(0, `missing "${key}:" line`);
  }

  number(key: string, fallback: number): number {
    const field = this.get(key);
    if (!field) return fallback;
    const value = Number(field.value);
    if (!Number.isFinite(value)) this.fail(field.line, `${key} must be a number, got "${field.value}"`);
    return value;
  }
}

function readContext(doc: DocumentReader): Context {
  const formatField = doc.need('format');
  if (!(BLOCK_STRING_FORMATS as readonly string[]).includes(formatField.value))
    doc.fail(formatField.line, `format must be timm or mnasnet, got "${formatField.value}"`);
  const format = formatField.value as BlockStringFormat;
  const actField = doc.get('act');
  const act = parseActivation(actField?.value ?? 'relu', actField?.line ?? 0, doc.fail);
  const seField = doc.get('se');
  const se = seField ? parseSeRule(seField.value, seField.line, format, doc.fail) : format === 'mnasnet' ? MNASNET_SE_RULE : null;
  const widthsField = doc.get('widths');
  const widths = widthsField?.value ?? (format === 'timm' ? 'timm' : 'exact');
  if (widths !== 'exact' && (widths !== 'timm' || format !== 'timm'))
    doc.fail(
      widthsField!.line,
      `widths must be ${format === 'timm' ? 'timm or exact' : 'exact (timm rounding is a timm setting)'}, got "${widths}"`,
    );
  return { format, act, se, widths: widths as WidthRule };
}

function readInput(doc: DocumentReader): { resolution: number; channels: number } {
  const field = doc.need('input');
  const input = /^(\d+)x(\d+)x(\d+)$/.exec(field.value);
  if (!input || input[1] !== input[2]) doc.fail(field.line, `input must be RxRxC with a square resolution, got "${field.value}"`);
  return { resolution: Number(input![1]), channels: Number(input![3]) };
}

function readStem(doc: DocumentReader, ctx: Context) {
  const field = doc.need('stem');
  return decodeLine(field.value, field.line, doc.fail, () => {
    const t = tokenize(field.value);
    const out = required(t, ctx.format === 'timm' ? 'c' : 'o', 'output width');
    return { kernel: required(t, 'k', 'kernel'), stride: t.values.get('s') ?? 1, out, activation: t.act ?? ctx.act };
  });
}

function readBlocks(doc: DocumentReader, ctx: Context, stemOut: number): BlockBody[] {
  let channels = stemOut;
  const blocks: BlockBody[] = [];
  for (const { line, strings } of doc.doc.stages) {
    strings.forEach((s, i) => {
      const decoded = decodeLine(s, line, doc.fail, () => decodeBlockString(s, channels, ctx));
      if (ctx.format === 'timm' && i > 0 && decoded[0]!.stride > 1)
        doc.fail(line, `"${s}": timm builds the blocks after the first of a stage with stride 1: put this one on a new stage line`);
      blocks.push(...decoded);
      channels = decoded[decoded.length - 1]!.out;
    });
  }
  return blocks;
}

function readHead(doc: DocumentReader, ctx: Context): HeadLayers {
  const field = doc.need('head');
  const head: HeadLayers = { conv: null, preLogits: null };
  for (const item of field.value === 'none' ? [] : field.value.split(/\s*,\s*/)) {
    decodeLine(item, field.line, doc.fail, () => {
      const t = tokenize(item);
      const layer = { out: required(t, ctx.format === 'timm' ? 'c' : 'o', 'output width'), activation: t.act ?? ctx.act };
      if (t.type === 'cn') head.conv = layer;
      else if (t.type === 'fc') head.preLogits = layer;
      else throw new Error(`head items are cn_... (1x1 conv before pooling) or fc_... (pre-logits), got "${item}"`);
    });
  }
  return head;
}

/** Hands out the layer ids in order: the document's `ids:` line, or the canonical ones. */
function idSource(doc: DocumentReader, blockCount: number, head: HeadLayers): () => string {
  const field = doc.get('ids');
  const ids = field ? field.value.split(/\s+/) : canonicalIds(blockCount, head.conv !== null, head.preLogits !== null);
  const expected = 1 + blockCount + (head.conv ? 1 : 0) + (head.preLogits ? 1 : 0);
  if (ids.length !== expected) doc.fail(field?.line ?? 0, `ids lists ${ids.length} ids, the model has ${expected} layers with ids`);
  let next = 0;
  return () => ids[next++]!;
}

function decodeLine<T>(text: string, line: number, fail: Fail, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof InputError) throw err;
    return fail(line, `"${text}": ${(err as Error).message}`);
  }
}

function parseActivation(value: string, line: number, fail: (line: number, message: string) => never): Activation {
  const act = (Object.keys(ACT_CODES) as Activation[]).find((a) => a === value) ?? CODE_ACTS[value];
  return act ?? fail(line, `unknown activation "${value}" (expected ${Object.keys(ACT_CODES).join(', ')})`);
}

function parseSeRule(value: string, line: number, format: BlockStringFormat, fail: (line: number, message: string) => never): SeRule {
  const settings = value.split(/\s+/).filter(Boolean);
  const preset = SE_PRESETS[settings[0] as keyof typeof SE_PRESETS];
  if (preset) settings.shift();
  const rule: SeRule = { ...(preset ?? (format === 'timm' ? SE_PRESETS.mobilenetv3 : MNASNET_SE_RULE)) };
  for (const pair of settings) {
    const [key, v = ''] = pair.split('=');
    if (key === 'gate' && (v === 'hsigmoid' || v === 'sigmoid')) rule.gate = v;
    else if (key === 'act') rule.activation = v === 'block' ? v : parseActivation(v, line, fail);
    else if (key === 'base' && (v === 'mid' || v === 'in')) rule.base = v;
    else if (key === 'round' && (v === '8' || v === 'floor' || v === 'nearest')) rule.round = v;
    else
      fail(
        line,
        `bad se setting "${pair}" (expected ${Object.keys(SE_PRESETS).join(' or ')}, or gate=hsigmoid|sigmoid act=ACT|block base=mid|in round=8|floor|nearest)`,
      );
  }
  return rule;
}

interface ParsedDocument {
  fields: Map<string, { value: string; line: number }>;
  stages: { line: number; strings: string[] }[];
}

function parseDocument(text: string, file: string): ParsedDocument {
  const fields = new Map<string, { value: string; line: number }>();
  const stages: { line: number; strings: string[] }[] = [];
  let inStages = false;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    // The JSON lines are JSON to their end: a '#' there is in a string (a command, a path).
    const content = (/^\s*(task|provenance):/.test(raw) ? raw : raw.replace(/#.*$/, '')).trim();
    if (!content) return;
    // `arch_def = [` as pasted from timm's Python source, or `key: value`.
    const field = /^(arch_def|blocks)\s*=\s*(.*)$/.exec(content) ?? /^([a-z_]+):\s*(.*)$/.exec(content);
    if (field) {
      const [, key, value] = field as unknown as [string, string, string];
      inStages = key === 'arch_def' || key === 'blocks';
      if (inStages) {
        if (value) stages.push({ line, strings: splitStrings(value) });
      } else {
        if (fields.has(key)) throw new InputError(`${file}: line ${line}: "${key}:" given twice`);
        fields.set(key, { value, line });
      }
      return;
    }
    if (!inStages) throw new InputError(`${file}: line ${line}: expected "key: value", got "${content}"`);
    const strings = splitStrings(content);
    if (strings.length) stages.push({ line, strings });
  });
  if (stages.length === 0 && !fields.has('format'))
    throw new InputError(`${file}: not a block-string document (no "format:" line; see docs/block-strings.md)`);
  return { fields, stages };
}

/** Splits a stage line, accepting Python list syntax: `['ir_r1_k3', "ds_r1_k3"],`. */
function splitStrings(line: string): string[] {
  return line
    .replace(/[[\]'",]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}
