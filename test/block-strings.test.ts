import test from 'ava';
import { InputError } from '../src/common/errors.js';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { exportBlockStrings, importBlockStrings } from '../src/search-space/block-strings.js';
import { specCost } from '../src/search-space/cost.js';
import { deploymentInput } from '../src/search-space/io.js';
import { zooNames, zooSpec } from '../src/search-space/zoo/index.js';
import { randomSpec } from './helpers/random-spec.js';

const architecture = (spec: ArchSpec) => {
  const { provenance: _p, ...rest } = spec;
  return rest;
};

for (const format of ['timm', 'mnasnet'] as const) {
  test(`${format}: every zoo model round-trips to an equal spec`, (t) => {
    for (const name of zooNames()) {
      const spec = zooSpec(name);
      t.deepEqual(architecture(importBlockStrings(exportBlockStrings(spec, format), name)), architecture(spec), name);
    }
  });

  test(`${format}: 200 random specs (arbitrary widths, ids, SE widths) round-trip`, (t) => {
    for (let seed = 0; seed < 200; seed++) {
      const spec = randomSpec(seed, { canonicalIds: seed % 3 !== 0 });
      const text = exportBlockStrings(spec, format);
      t.deepEqual(architecture(importBlockStrings(text, `seed ${seed}`)), architecture(spec), `seed ${seed}:\n${text}`);
    }
  });
}

test('the provenance goes through the document: a NetAdapt result keeps the deployment input it is priced at', (t) => {
  const small = zooSpec('mobilenetv3-small-0.5', { resolution: 32, classes: 10 });
  const spec = {
    ...small,
    provenance: {
      ...small.provenance,
      command: 'nas netadapt --arch a.json --out runs/na#2',
      deployment: { resolution: 224, classes: 1000, table: 'tables/default.json', missing: 'estimate' },
    },
  };
  for (const format of ['timm', 'mnasnet'] as const) {
    const back = importBlockStrings(exportBlockStrings(spec, format), 'final.txt');
    t.deepEqual(back, spec, format);
    t.deepEqual(deploymentInput(back), { resolution: 224, classes: 1000 });
  }
  const bad = exportBlockStrings(spec, 'timm').replace(/^provenance: .*$/m, 'provenance: {"command": 1}');
  t.throws(() => importBlockStrings(bad, 'final.txt'), { instanceOf: InputError, message: /final\.txt: .*\$\.provenance\.command/ });
});

test("timm's arch_def pasted alone: one error naming the lines it needs and docs/block-strings.md", (t) => {
  const bare = `arch_def = [
    ['ds_r1_k3_s1_e1_c16_nre'],
    ['ir_r1_k3_s2_e4_c24_nre', 'ir_r1_k3_s1_e3_c24_nre'],
]`;
  t.throws(() => importBlockStrings(bare, 'arch_def.txt'), {
    instanceOf: InputError,
    message:
      /^arch_def\.txt: missing "format:", "input:", "stem:", "head:" lines: the strings sit in a document that says what they leave to the model function \(format, input, stem, head; se with SE\); see docs\/block-strings\.md$/,
  });
});

test("timm's MobileNetV3-Large arch_def, pasted as Python (`arch_def = [`), is the zoo model", (t) => {
  const text = `
format: timm
name: mobilenetv3-large-1.0
input: 224x224x3
act: hswish
se: mobilenetv3
stem: cn_r1_k3_s2_c16_nhs
arch_def = [
  # stage 0, 112x112 in
  ['ds_r1_k3_s1_e1_c16_nre'],  # relu
  ['ir_r1_k3_s2_e4_c24_nre', 'ir_r1_k3_s1_e3_c24_nre'],
  ['ir_r3_k5_s2_e3_c40_se0.25_nre'],
  ['ir_r1_k3_s2_e6_c80', 'ir_r1_k3_s1_e2.5_c80', 'ir_r2_k3_s1_e2.3_c80'],
  ['ir_r2_k3_s1_e6_c112_se0.25'],
  ['ir_r3_k5_s2_e6_c160_se0.25'],
]
head: cn_r1_k1_s1_c960_nhs, fc_c1280_nhs
`;
  t.deepEqual(architecture(importBlockStrings(text)), architecture(zooSpec('mobilenetv3-large-1.0')));
});

test("timm's MobileNetV3-Small arch_def (e3.67 -> 88) is the zoo model", (t) => {
  const text = `format: timm
name: mobilenetv3-small-1.0
input: 224x224x3
act: hswish
se: mobilenetv3
stem: cn_r1_k3_s2_c16_nhs
arch_def:
  ['ds_r1_k3_s2_e1_c16_se0.25_nre'],
  ['ir_r1_k3_s2_e4.5_c24_nre', 'ir_r1_k3_s1_e3.67_c24_nre'],
  ['ir_r1_k5_s2_e4_c40_se0.25', 'ir_r2_k5_s1_e6_c40_se0.25'],
  ['ir_r2_k5_s1_e3_c48_se0.25'],
  ['ir_r3_k5_s2_e6_c96_se0.25'],
head: cn_r1_k1_s1_c576_nhs, fc_c1024_nhs
`;
  t.deepEqual(architecture(importBlockStrings(text)), architecture(zooSpec('mobilenetv3-small-1.0')));
});

// timm's semnasnet_100 (_gen_mnasnet_a1 in timm/models/efficientnet.py), pasted as it stands there.
const semnasnet = (seLine: string) => `format: timm
name: semnasnet_100
input: 224x224x3
act: relu
${seLine}
stem: cn_r1_k3_s2_c32
    arch_def = [
        # stage 0, 112x112 in
        ['ds_r1_k3_s1_e1_c16_noskip'],
        # stage 1, 112x112 in
        ['ir_r2_k3_s2_e6_c24'],
        # stage 2, 56x56 in
        ['ir_r3_k5_s2_e3_c40_se0.25'],
        # stage 3, 28x28 in
        ['ir_r4_k3_s2_e6_c80'],
        # stage 4, 14x14in
        ['ir_r2_k3_s1_e6_c112_se0.25'],
        # stage 5, 14x14in
        ['ir_r3_k5_s2_e6_c160_se0.25'],
        # stage 6, 7x7 in
        ['ir_r1_k3_s1_e6_c320'],
    ]
head: cn_r1_k1_s1_c1280
`;

test('a timm arch_def with SE but no "se:" line is refused: the SE layer is the model\'s, not the strings\'', (t) => {
  // Before, this built MobileNetV3's SE (5,141,352 params instead of semnasnet_100's 3,887,038).
  const err = t.throws(() => importBlockStrings(semnasnet(''), 'semnasnet.txt'), { instanceOf: InputError });
  t.regex(err!.message, /^semnasnet\.txt: line 13: "ir_r3_k5_s2_e3_c40_se0\.25": timm's arch_def leaves the SE layer to the model/);
  t.regex(
    err!.message,
    /"se: mobilenetv3" \(timm's mobilenetv3_\*\) or "se: efficientnet" \(timm's efficientnet_\*, mnasnet_\*, semnasnet_\*\)/,
  );
});

test("timm's semnasnet_100 with se: efficientnet has timm's 3,887,038 params: the zoo's MnasNet-A1", (t) => {
  const spec = importBlockStrings(semnasnet('se: efficientnet'));
  t.is(specCost(spec).params, 3_887_038);
  t.deepEqual(spec.blocks, zooSpec('mnasnet-a1').blocks);
});

// A MobileNetV3-style def whose widths timm rounds: c20 -> 24, 24 x e3.5 = 84 -> 88, 40 x e3.5 = 140 -> 144.
// timm 0.9.16 (MobileNetV3 class, this arch_def plus ['cn_r1_k1_s1_c576'], stem 16, num_features 1024,
// hard-swish, the mobilenetv3 SE layer) counts 2,141,632 parameters.
const c20 = (widths: string) => `format: timm
input: 224x224x3
act: hswish
se: mobilenetv3
${widths}
stem: cn_r1_k3_s2_c16_nhs
arch_def:
  ['ds_r1_k3_s2_e1_c16_se0.25_nre'],
  ['ir_r1_k3_s2_e4.5_c20_nre', 'ir_r1_k3_s1_e3.5_c20_nre'],
  ['ir_r2_k5_s2_e4_c40_se0.25'],
  ['ir_r1_k5_s1_e3.5_c48_se0.25'],
  ['ir_r2_k5_s2_e6_c96_se0.25'],
head: cn_r1_k1_s1_c576_nhs, fc_c1024_nhs
`;

test('timm widths: c and in x e go through make_divisible(8) as timm builds them; widths: exact reads them as written', (t) => {
  const timm = importBlockStrings(c20(''));
  t.is(specCost(timm).params, 2_141_632);
  t.deepEqual(
    timm.blocks.map((b) => [b.out, b.type === 'bneck' ? b.exp : null]),
    [
      [16, null],
      [24, 72],
      [24, 88],
      [40, 96],
      [40, 160],
      [48, 144],
      [96, 288],
      [96, 576],
    ],
  );
  t.deepEqual(specCost(importBlockStrings(c20('widths: timm'))), specCost(timm));
  const exact = importBlockStrings(c20('widths: exact'));
  t.is(specCost(exact).params, 2_134_038);
  t.deepEqual(
    exact.blocks.slice(1, 3).map((b) => [b.out, b.type === 'bneck' ? b.exp : null]),
    [
      [20, 72],
      [20, 70],
    ],
  );
});

test("the efficientnet SE layer: round(ratio / e x the expanded width), the block's activation, as timm builds it", (t) => {
  // timm 0.9.16 (EfficientNet class, stem 32, num_features 1280, ReLU, default SqueezeExcite) counts
  // 1,470,753 parameters; the e1.5 block's SE is round(0.25 / 1.5 x 40) = 7 wide (0.25 x 24 would be 6).
  const spec = importBlockStrings(`format: timm
input: 224x224x3
act: relu
se: efficientnet
stem: cn_r1_k3_s2_c32
arch_def:
  ['ds_r1_k3_s1_e1_c16_se0.25'],
  ['ir_r2_k3_s2_e6_c20'],
  ['ir_r1_k3_s1_e1.5_c24_se0.25'],
  ['ir_r2_k5_s2_e3.5_c40_se0.25'],
  ['ir_r1_k3_s2_e6_c80_se0.25_nsw'],
head: cn_r1_k1_s1_c1280
`);
  t.is(specCost(spec).params, 1_470_753);
  t.deepEqual(
    spec.blocks.filter((b) => b.se).map((b) => [b.se!.squeeze, b.se!.gate, b.se!.activation]),
    [
      [8, 'sigmoid', 'relu'],
      [7, 'sigmoid', 'relu'],
      [6, 'sigmoid', 'relu'],
      [10, 'sigmoid', 'relu'],
      [10, 'sigmoid', 'swish'],
    ],
  );
});

test('export: widths timm would round are marked "widths: exact"; a stride-2 block starts a stage, as timm needs', (t) => {
  const odd = { ...zooSpec('mobilenetv3-small-1.0') };
  odd.blocks = odd.blocks.map((b, i) => (i === 1 && b.type === 'bneck' ? { ...b, exp: 70 } : b));
  const text = exportBlockStrings(odd, 'timm');
  t.regex(text, /\nwidths: exact\n/);
  t.deepEqual(architecture(importBlockStrings(text)), architecture(odd));
  t.notRegex(exportBlockStrings(zooSpec('mobilenetv3-small-1.0'), 'timm'), /widths:/);
  // V3-Small 0.35: its second block (stride 2) has the first block's width, 8.
  const small = exportBlockStrings(zooSpec('mobilenetv3-small-0.35'), 'timm');
  t.true(small.includes("  ['ds_r1_k3_s2_e1_c8_se0.25_nre'],\n  ['ir_r1_k3_s2_e5_c8_nre', 'ir_r1_k3_s1_e4_c8_nre'],\n"), small);
});

test("the MnasNet reference code's A1 block strings are the zoo model", (t) => {
  const text = `format: mnasnet
name: mnasnet-a1
input: 224x224x3
stem: cn_r1_k3_s22_o32_nre
blocks: ['r1_k3_s11_e1_i32_o16_noskip', 'r2_k3_s22_e6_i16_o24', 'r3_k5_s22_e3_i24_o40_se0.25',
  'r4_k3_s22_e6_i40_o80', 'r2_k3_s11_e6_i80_o112_se0.25', 'r3_k5_s22_e6_i112_o160_se0.25',
  'r1_k3_s11_e6_i160_o320']
head: cn_r1_k1_s11_o1280_nre
`;
  t.deepEqual(architecture(importBlockStrings(text)), architecture(zooSpec('mnasnet-a1')));
});

test('exported V3-Large strings read like timm', (t) => {
  const text = exportBlockStrings(zooSpec('mobilenetv3-large-1.0'), 'timm');
  t.true(text.includes("['ir_r1_k3_s2_e6_c80', 'ir_r1_k3_s1_e2.5_c80', 'ir_r2_k3_s1_e2.3_c80'],"), text);
  const mnas = exportBlockStrings(zooSpec('mnasnet-a1'), 'mnasnet');
  t.true(mnas.includes('  r2_k3_s22_e6_i16_o24\n'), mnas);
});

const badDocuments: [title: string, text: string, message: RegExp][] = [
  [
    'unknown token',
    'format: timm\ninput: 32x32x3\nstem: cn_k3_s2_c16\narch_def:\n  ir_r1_k3_s1_e6_c16_zz9\nhead: none',
    /line 5: "ir_r1_k3_s1_e6_c16_zz9": unknown token "zz9"/,
  ],
  [
    'mismatched input width',
    'format: mnasnet\ninput: 32x32x3\nstem: cn_k3_s22_o16\nblocks:\n  r1_k3_s11_e6_i24_o16\nhead: none',
    /line 5: .*i24 does not match the previous output width 16/,
  ],
  [
    'missing type in timm',
    'format: timm\ninput: 32x32x3\nstem: cn_k3_s2_c16\narch_def:\n  r1_k3_s1_e6_c16\nhead: none',
    /missing block type/,
  ],
  ['unknown format', 'format: keras\ninput: 32x32x3\nstem: cn_k3_s2_c16\nhead: none', /format must be timm or mnasnet/],
  ['missing head', 'format: timm\ninput: 32x32x3\nstem: cn_k3_s2_c16', /missing "head:" line/],
  [
    'stride 3 caught by the schema',
    'format: timm\ninput: 32x32x3\nstem: cn_k3_s2_c16\narch_def:\n  ir_r1_k3_s3_e6_c16\nhead: none',
    /\$\.blocks\[0\]\.stride/,
  ],
  [
    'a stride after the first block of a timm stage (timm would build it with stride 1)',
    "format: timm\ninput: 32x32x3\nstem: cn_k3_s2_c16\narch_def:\n  ['ir_r1_k3_s1_e6_c16', 'ir_r1_k3_s2_e6_c24']\nhead: none",
    /line 5: "ir_r1_k3_s2_e6_c24": timm builds the blocks after the first of a stage with stride 1/,
  ],
  [
    'timm rounding in the mnasnet format',
    'format: mnasnet\nwidths: timm\ninput: 32x32x3\nstem: cn_k3_s22_o16\nhead: none',
    /widths must be exact/,
  ],
  ['an unknown SE layer', 'format: timm\nse: resnet\ninput: 32x32x3\nstem: cn_k3_s2_c16\nhead: none', /bad se setting "resnet"/],
  [
    'unknown type',
    'format: timm\ninput: 32x32x3\nstem: cn_k3_s2_c16\narch_def:\n  er_r1_k3_s1_e6_c16\nhead: none',
    /unsupported block type "er"/,
  ],
];
for (const [title, text, message] of badDocuments) {
  test(`bad block-string document: ${title}`, (t) => {
    const err = t.throws(() => importBlockStrings(text, 'doc.txt'), { instanceOf: InputError });
    t.regex(err!.message, /^doc\.txt: /);
    t.regex(err!.message, message);
  });
}
