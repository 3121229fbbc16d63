/**
 * The architecture spec (ArchSpec): the one data type every module reads and writes.
 *
 * A spec is plain JSON describing an image classifier: input, stem, an ordered list of blocks,
 * head, classes, dropout, plus metadata. Widths are absolute channel counts, so NetAdapt can set
 * any width. Every layer has a stable id: blocks, stem and head layers carry an `id`; the layers
 * inside a block are named `<id>.<role>` (see `layerName`), the classifier is `classifier`.
 *
 * The zod schemas below are the single definition: the TypeScript types are inferred from them
 * and `schema/archspec.schema.json` is generated from them.
 */
import { z } from 'zod';
import { jsonPath } from '../common/errors.js';
import { otherKindError } from '../common/file-kinds.js';
import { parseWith } from '../common/validate.js';

export const ARCHSPEC_SCHEMA_VERSION = 1;

export const ACTIVATIONS = ['relu', 'relu6', 'hswish', 'swish'] as const;
export const KERNEL_SIZES = [1, 3, 5, 7] as const;
export const STRIDES = [1, 2] as const;
export const SE_GATES = ['hsigmoid', 'sigmoid'] as const;
/** The classifier's fixed layer id; no other layer may use it. */
export const CLASSIFIER_ID = 'classifier';

export const Activation = z.enum(ACTIVATIONS);
export type Activation = z.infer<typeof Activation>;

const LayerId = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'expected an id of letters, digits, "_" or "-", starting with a letter');
const Width = z.int().positive().max(1_000_000);
const Kernel = z.literal(KERNEL_SIZES);
const Stride = z.literal(STRIDES);

export const SqueezeExcite = z
  .strictObject({
    /** Absolute width of the squeeze (reduce) layer. */
    squeeze: Width,
    gate: z.enum(SE_GATES),
    /** Activation between the two SE layers. */
    activation: Activation,
  })
  .describe('Squeeze-and-excite: global pool, 1x1 reduce (bias), activation, 1x1 expand (bias), gate, scale.');
export type SqueezeExcite = z.infer<typeof SqueezeExcite>;

const blockFields = {
  id: LayerId,
  kernel: Kernel,
  stride: Stride,
  /** Output channels of the block. */
  out: Width,
  activation: Activation,
  se: SqueezeExcite.nullable(),
  /** Identity shortcut added to the block output; needs stride 1 and equal in/out widths. */
  residual: z.boolean(),
  /** Dilation of the spatial (kxk) convolution, for atrous stages; absent means 1. Needs stride 1. */
  dilation: z.literal([1, 2, 4]).optional(),
};

export const ConvBlock = z
  .strictObject({ type: z.literal('conv'), ...blockFields })
  .describe('Regular convolution: kxk conv, BN, activation, optional SE.');
export const DsConvBlock = z
  .strictObject({ type: z.literal('dsconv'), ...blockFields })
  .describe('Depthwise-separable: kxk depthwise, BN, activation, optional SE, 1x1 linear projection, BN.');
export const BneckBlock = z
  .strictObject({
    type: z.literal('bneck'),
    ...blockFields,
    /** Absolute expansion width (the depthwise layer's channels). */
    exp: Width,
  })
  .describe(
    'Inverted-residual bottleneck: 1x1 expansion, BN, activation, kxk depthwise, BN, activation, optional SE, 1x1 linear projection, BN.',
  );
export const Block = z.discriminatedUnion('type', [ConvBlock, DsConvBlock, BneckBlock]);
export type ConvBlock = z.infer<typeof ConvBlock>;
export type DsConvBlock = z.infer<typeof DsConvBlock>;
export type BneckBlock = z.infer<typeof BneckBlock>;
export type Block = z.infer<typeof Block>;
export type BlockType = Block['type'];
/** A block without its id (while drafting or decoding a model). */
export type BlockBody = Omit<ConvBlock, 'id'> | Omit<DsConvBlock, 'id'> | Omit<BneckBlock, 'id'>;

export const Stem = z
  .strictObject({ id: LayerId, kernel: Kernel, stride: Stride, out: Width, activation: Activation })
  .describe('Stem: kxk conv, BN, activation.');
export type Stem = z.infer<typeof Stem>;

const HeadLayer = z.strictObject({ id: LayerId, out: Width, activation: Activation });
export const Head = z
  .strictObject({
    /** 1x1 conv + BN + activation at the last feature resolution (V3's 960/576 layer). */
    conv: HeadLayer.nullable(),
    pool: z.literal('avg'),
    /** V3 efficient head: 1x1 conv with bias and no BN after pooling (1280/1024), then activation. */
    preLogits: HeadLayer.nullable(),
  })
  .describe('Head: optional 1x1 conv, global average pooling, optional pre-logits layer, dropout, classifier.');
export type Head = z.infer<typeof Head>;

export const Provenance = z
  .looseObject({
    /** The command line (or function) that produced the spec. */
    command: z.string(),
    /** Seed of the random generator involved, null when nothing random was involved. */
    seed: z.union([z.int(), z.string()]).nullable(),
    tool: z.string().optional(),
    source: z.string().optional(),
    createdAt: z.string().optional(),
  })
  .describe('Which command and seed produced the spec; free-form extra fields are kept.');
export type Provenance = z.infer<typeof Provenance>;

export const Pooling = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('global') }),
  z.strictObject({ type: z.literal('avg'), kernel: z.tuple([Width, Width]), stride: z.tuple([Width, Width]) }),
]);
export type Pooling = z.infer<typeof Pooling>;

export const ClassificationTask = z
  .strictObject({ type: z.literal('classification') })
  .describe('Image classification through the head (the default).');

export const SegmentationTask = z
  .strictObject({
    type: z.literal('segmentation'),
    decoder: z.literal('lraspp'),
    /** Output stride of the low-level features (the last block output at that stride). */
    lowStride: Width,
    /** Output stride of the high-level features: the backbone's last features (after head.conv). */
    highStride: Width,
    interChannels: Width,
    /** Pooling of the attention branch: global, or the paper's large kernel with a stride. */
    pooling: Pooling,
  })
  .describe('LR-ASPP segmentation: the backbone (stem, blocks, head.conv) feeds the decoder; classes are pixel classes.');

export const DetectionTap = z.strictObject({
  stride: Width,
  /** `expansion`: the expansion conv of the stride-2 block leaving this stride; `output`: the last features at it. */
  layer: z.enum(['expansion', 'output']),
});

export const DetectionTask = z
  .strictObject({
    type: z.literal('detection'),
    decoder: z.literal('ssdlite'),
    taps: z.array(DetectionTap).min(1),
    /** Widths of the extra feature layers (each 1x1, depthwise 3x3 stride 2, 1x1), after the last tap. */
    extraWidths: z.array(Width),
    /** Anchor aspect ratios besides 1 (each r adds r and 1/r). */
    aspectRatios: z.array(z.number().positive()),
    minScale: z.number().gt(0).lt(1),
    maxScale: z.number().gt(0).max(1),
  })
  .describe('SSDLite detection: predictors on the tapped features and the extra layers; classes include the background.');

export const Task = z.discriminatedUnion('type', [ClassificationTask, SegmentationTask, DetectionTask]);
export type Task = z.infer<typeof Task>;
export type SegmentationTask = z.infer<typeof SegmentationTask>;
export type DetectionTask = z.infer<typeof DetectionTask>;

const ArchSpecObject = z.strictObject({
  schemaVersion: z.literal(ARCHSPEC_SCHEMA_VERSION),
  kind: z.literal('archspec'),
  name: z.string().min(1),
  provenance: Provenance,
  input: z.strictObject({
    resolution: z.int().min(8).max(4096),
    channels: z.int().positive().max(64),
  }),
  stem: Stem,
  blocks: z.array(Block),
  head: Head,
  classes: z.int().positive(),
  /** Dropout rate before the classifier. */
  dropout: z.number().min(0).lt(1),
  /** What the network predicts; absent means classification. */
  task: Task.optional(),
});
export type ArchSpec = z.infer<typeof ArchSpecObject>;

/** The full schema: structure plus the cross-field rules (unique ids, valid residuals). */
export const ArchSpecSchema = ArchSpecObject.superRefine((spec, ctx) => {
  for (const issue of crossFieldIssues(spec)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
});

interface PathIssue {
  path: (string | number)[];
  message: string;
}

function crossFieldIssues(spec: ArchSpec): PathIssue[] {
  const issues: PathIssue[] = [];
  const seen = new Map<string, (string | number)[]>();
  const claim = (id: string, path: (string | number)[]) => {
    if (id === CLASSIFIER_ID) issues.push({ path, message: `id "${id}" is reserved for the classifier` });
    else if (seen.has(id)) issues.push({ path, message: `duplicate id "${id}" (also at ${jsonPath(seen.get(id)!)})` });
    else seen.set(id, path);
  };
  claim(spec.stem.id, ['stem', 'id']);
  let channels = spec.stem.out;
  let outputStride = spec.stem.stride;
  const strides = new Set<number>([outputStride]);
  spec.blocks.forEach((block, i) => {
    claim(block.id, ['blocks', i, 'id']);
    if (block.residual && (block.stride !== 1 || block.out !== channels)) {
      issues.push({
        path: ['blocks', i, 'residual'],
        message: `a residual needs stride 1 and equal input/output widths (stride ${block.stride}, input ${channels}, output ${block.out})`,
      });
    }
    if ((block.dilation ?? 1) > 1 && block.stride !== 1) {
      issues.push({ path: ['blocks', i, 'dilation'], message: `a dilated (atrous) block must have stride 1, not ${block.stride}` });
    }
    channels = block.out;
    outputStride *= block.stride;
    strides.add(outputStride);
  });
  issues.push(...taskIssues(spec, strides, outputStride));
  if (spec.head.conv) claim(spec.head.conv.id, ['head', 'conv', 'id']);
  if (spec.head.preLogits) claim(spec.head.preLogits.id, ['head', 'preLogits', 'id']);
  return issues;
}

function taskIssues(spec: ArchSpec, strides: Set<number>, finalStride: number): PathIssue[] {
  const task = spec.task;
  if (!task || task.type === 'classification') return [];
  const issues: PathIssue[] = [];
  if (spec.head.preLogits)
    issues.push({ path: ['head', 'preLogits'], message: `a ${task.type} network has no pre-logits layer: set it to null` });
  const have = `the backbone has output strides ${[...strides].sort((a, b) => a - b).join(', ')}`;
  if (task.type === 'segmentation') {
    if (!strides.has(task.lowStride))
      issues.push({ path: ['task', 'lowStride'], message: `no features at output stride ${task.lowStride}: ${have}` });
    if (task.highStride !== finalStride)
      issues.push({ path: ['task', 'highStride'], message: `the backbone ends at output stride ${finalStride}, not ${task.highStride}` });
  } else {
    task.taps.forEach((tap, i) => {
      const leaving = spec.blocks.some((b, j) => b.type === 'bneck' && b.stride === 2 && strideBefore(spec, j) === tap.stride);
      if (!strides.has(tap.stride))
        issues.push({ path: ['task', 'taps', i, 'stride'], message: `no features at output stride ${tap.stride}: ${have}` });
      else if (tap.layer === 'expansion' && !leaving)
        issues.push({
          path: ['task', 'taps', i, 'layer'],
          message: `no stride-2 bottleneck leaves output stride ${tap.stride}, so it has no expansion layer to tap`,
        });
    });
    if (task.minScale >= task.maxScale) issues.push({ path: ['task', 'minScale'], message: `must be below maxScale (${task.maxScale})` });
  }
  return issues;
}

/** Output stride of the input of block `index`. */
export function strideBefore(spec: ArchSpec, index: number): number {
  return spec.blocks.slice(0, index).reduce((s: number, b) => s * b.stride, spec.stem.stride);
}

/**
 * Validates untrusted data as an ArchSpec. Throws a ValidationError naming `file` and the JSON path
 * of every bad field.
 */
export function parseArchSpec(data: unknown, file = '<spec>'): ArchSpec {
  const other = otherKindError(data, file, ['archspec'], 'an ArchSpec');
  if (other) throw other;
  return parseWith(ArchSpecSchema, data, file);
}

/** Name of a layer inside a block (or stem/head layer), e.g. `b3.expand`, `b3.dw_bn`. */
export function layerName(id: string, role?: string): string {
  return role ? `${id}.${role}` : id;
}
