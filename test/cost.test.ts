import test from 'ava';
import { ARCHSPEC_SCHEMA_VERSION, parseArchSpec } from '../src/search-space/archspec.js';
import { specCost } from '../src/search-space/cost.js';
import { zooSpec } from '../src/search-space/zoo/index.js';

const cost = (name: string) => specCost(zooSpec(name));
const within = (value: number, reference: number, relative: number) => Math.abs(value - reference) <= relative * reference;

test('MobileNetV3-Large 1.0: torchvision params exactly, MAdds within 3% of the paper', (t) => {
  const c = cost('mobilenetv3-large-1.0');
  t.is(c.params, 5_483_032);
  t.true(within(c.madds, 219e6, 0.03), `${c.madds}`);
});

test('MobileNetV3-Small 1.0: torchvision params exactly, MAdds within 3% of the paper', (t) => {
  const c = cost('mobilenetv3-small-1.0');
  t.is(c.params, 2_542_856);
  t.true(within(c.madds, 56e6, 0.03), `${c.madds}`);
});

const paperRows: [name: string, paramsM: number, maddsM: number | null][] = [
  ['mobilenetv3-large-0.75', 4.0, 155],
  ['mobilenetv3-small-0.75', 2.0, 44],
  ['mobilenetv2-1.0', 3.5, 300], // the paper prints 3.4M; torchvision's exact count is 3,504,872
  ['mobilenetv2-0.35', 1.65, 59.2], // "~1.6-1.7M"
  ['mnasnet-a1', 3.9, 315],
  ['mobilenetv3-large-minimal-1.0', 3.9, null],
  ['mobilenetv3-small-minimal-1.0', 2.0, null],
];
for (const [name, paramsM, maddsM] of paperRows) {
  test(`${name}: params within 0.1M of ${paramsM}M${maddsM ? `, MAdds within 3% of ${maddsM}M` : ''}`, (t) => {
    const c = cost(name);
    t.true(Math.abs(c.params - paramsM * 1e6) <= 0.1e6, `params ${c.params}`);
    if (maddsM) t.true(within(c.madds, maddsM * 1e6, 0.03), `MAdds ${c.madds}`);
  });
}

test('reference exact counts: V2 1.0 and 0.35, MnasNet-A1, V3 0.75 with the TF-slim width rule', (t) => {
  t.is(cost('mobilenetv2-1.0').params, 3_504_872);
  t.is(cost('mobilenetv2-0.35').params, 1_677_128);
  t.is(cost('mnasnet-a1').params, 3_887_038);
  t.is(cost('mobilenetv3-large-0.75').params, 3_993_528);
  t.is(cost('mobilenetv3-small-0.75').params, 2_041_872);
  t.is(Math.round(cost('mnasnet-a1').madds / 1e5), 3116);
});

test('hand-computed costs of a small spec', (t) => {
  const spec = parseArchSpec({
    schemaVersion: ARCHSPEC_SCHEMA_VERSION,
    kind: 'archspec',
    name: 'tiny',
    provenance: { command: 'test', seed: null },
    input: { resolution: 8, channels: 3 },
    stem: { id: 'stem', kernel: 3, stride: 2, out: 8, activation: 'hswish' },
    blocks: [
      {
        type: 'bneck',
        id: 'b1',
        kernel: 5,
        stride: 1,
        exp: 16,
        out: 8,
        activation: 'relu',
        residual: true,
        se: { squeeze: 4, gate: 'hsigmoid', activation: 'relu' },
      },
      { type: 'dsconv', id: 'b2', kernel: 3, stride: 2, out: 12, activation: 'relu', residual: false, se: null },
      { type: 'conv', id: 'b3', kernel: 3, stride: 1, out: 12, activation: 'relu6', residual: true, se: null },
    ],
    head: { conv: { id: 'hc', out: 20, activation: 'hswish' }, pool: 'avg', preLogits: { id: 'pl', out: 32, activation: 'hswish' } },
    classes: 5,
    dropout: 0.2,
  });
  const c = specCost(spec);
  // stem: 8x8 -> 4x4, 3x3x3x8 weights + BN(8)
  const stem = { madds: 16 * 27 * 8, params: 27 * 8 + 16 };
  // b1 at 4x4: expand 8->16, depthwise 5x5 on 16, SE 16->4->16 (biases), project 16->8
  const b1 = {
    madds: 16 * 8 * 16 + 16 * 25 * 16 + 2 * 16 * 4 + 16 * 16 * 8,
    params: 8 * 16 + 32 + 25 * 16 + 32 + (2 * 16 * 4 + 4 + 16) + 16 * 8 + 16,
  };
  // b2: depthwise 3x3/2 on 8 (4x4 -> 2x2), project 8->12
  const b2 = { madds: 4 * 9 * 8 + 4 * 8 * 12, params: 9 * 8 + 16 + 8 * 12 + 24 };
  // b3: conv 3x3 12->12 at 2x2
  const b3 = { madds: 4 * 9 * 12 * 12, params: 9 * 12 * 12 + 24 };
  // head conv 1x1 12->20 at 2x2, pre-logits dense 20->32 (bias), classifier 32->5 (bias)
  const head = { madds: 4 * 12 * 20 + 20 * 32 + 32 * 5, params: 12 * 20 + 40 + 20 * 32 + 32 + 32 * 5 + 5 };
  const parts = [stem, b1, b2, b3, head];
  t.is(
    c.madds,
    parts.reduce((s, p) => s + p.madds, 0),
  );
  t.is(
    c.params,
    parts.reduce((s, p) => s + p.params, 0),
  );
  t.deepEqual(
    c.units.map((u) => u.unit.outShape),
    [
      [4, 4, 8],
      [4, 4, 8],
      [2, 2, 12],
      [2, 2, 12],
      [2, 2, 20],
      [1, 1, 20],
      [1, 1, 32],
      [1, 1, 5],
    ],
  );
});

test('resolution and classes change costs as expected', (t) => {
  const base = specCost(zooSpec('mobilenetv3-small-1.0'));
  const fewer = specCost(zooSpec('mobilenetv3-small-1.0', { classes: 10 }));
  t.is(base.params - fewer.params, 1024 * 990 + 990);
  const small = specCost(zooSpec('mobilenetv3-small-1.0', { resolution: 112 }));
  t.is(small.params, base.params);
  t.true(small.madds < base.madds / 3);
});
