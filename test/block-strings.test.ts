import test from 'ava';
import { InputError } from '../src/common/errors.js';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { exportBlockStrings, importBlockStrings } from '../src/search-space/block-strings.js';
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

test("timm's MobileNetV3-Large arch_def, pasted as a Python list, is the zoo model", (t) => {
  const text = `
format: timm
name: mobilenetv3-large-1.0
input: 224x224x3
act: hswish
stem: cn_r1_k3_s2_c16_nhs
arch_def: [
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
