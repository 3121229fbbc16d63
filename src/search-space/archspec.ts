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

const LayerId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'expected an id of letters, digits, "_" or "-", starting with a letter');
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
  const seen = new Map<string, string>();
  const claim = (id: string, path: (string | number)[]) => {
    const where = jsonPath(path);
    if (id === CLASSIFIER_ID) issues.push({ path, message: `id "${id}" is reserved for the classifier` });
    else if (seen.has(id)) issues.push({ path, message: `duplicate id "${id}" (also at ${seen.get(id)})` });
    else seen.set(id, where);
  };
  claim(spec.stem.id, ['stem', 'id']);
  let channels = spec.stem.out;
  spec.blocks.forEach((block, i) => {
    claim(block.id, ['blocks', i, 'id']);
    if (block.residual && (block.stride !== 1 || block.out !== channels)) {
      issues.push({
        path: ['blocks', i, 'residual'],
        message: `a residual needs stride 1 and equal input/output widths (stride ${block.stride}, input ${channels}, output ${block.out})`,
      });
    }
    channels = block.out;
  });
  if (spec.head.conv) claim(spec.head.conv.id, ['head', 'conv', 'id']);
  if (spec.head.preLogits) claim(spec.head.preLogits.id, ['head', 'preLogits', 'id']);
  return issues;
}

/**
 * Validates untrusted data as an ArchSpec. Throws a ValidationError naming `file` and the JSON path
 * of every bad field.
 */
export function parseArchSpec(data: unknown, file = '<spec>'): ArchSpec {
  return parseWith(ArchSpecSchema, data, file);
}

/** Name of a layer inside a block (or stem/head layer), e.g. `b3.expand`, `b3.dw_bn`. */
export function layerName(id: string, role?: string): string {
  return role ? `${id}.${role}` : id;
}
