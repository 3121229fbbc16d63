import { readFileSync } from 'node:fs';
import test from 'ava';
import { ValidationError } from '../src/common/errors.js';
import { formatDifferences } from '../src/common/json-diff.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { type ArchSpec, parseArchSpec } from '../src/search-space/archspec.js';
import { archSpecJsonSchema } from '../src/search-space/json-schema.js';
import { specDifferences } from '../src/search-space/spec-diff.js';
import { zooNames, zooSpec } from '../src/search-space/zoo/index.js';

const good = (): ArchSpec => structuredClone(zooSpec('mobilenetv3-small-1.0'));

test('every zoo spec validates and survives a JSON round trip', (t) => {
  for (const name of zooNames()) {
    const spec = zooSpec(name);
    t.deepEqual(parseArchSpec(JSON.parse(JSON.stringify(spec)), name), spec);
  }
});

/** Each case breaks one thing; the error must name the file and the JSON path of the field. */
const badCases: [title: string, mutate: (s: any) => void, path: string, mentions?: RegExp][] = [
  ['wrong type of a width', (s) => (s.blocks[2].out = '24'), '$.blocks[2].out', /expected number/],
  ['negative width', (s) => (s.blocks[1].exp = -72), '$.blocks[1].exp', />0/],
  ['fractional width', (s) => (s.stem.out = 15.5), '$.stem.out', /int/],
  ['stride 3', (s) => (s.blocks[3].stride = 3), '$.blocks[3].stride', /1\|2.*got 3/],
  ['kernel 4', (s) => (s.blocks[0].kernel = 4), '$.blocks[0].kernel', /1\|3\|5\|7/],
  ['unknown activation', (s) => (s.blocks[5].activation = 'gelu'), '$.blocks[5].activation', /hswish.*got "gelu"/],
  ['unknown block type', (s) => (s.blocks[4].type = 'fused'), '$.blocks[4].type', /conv/],
  ['residual with mismatched widths', (s) => (s.blocks[3].residual = true), '$.blocks[3].residual', /input 24, output 40/],
  ['residual with stride 2', (s) => (s.blocks[1].residual = true), '$.blocks[1].residual', /stride 2/],
  ['duplicate ids', (s) => (s.blocks[6].id = 'b2'), '$.blocks[6].id', /duplicate id "b2"/],
  ['reserved classifier id', (s) => (s.head.conv.id = 'classifier'), '$.head.conv.id', /reserved/],
  ['bad SE gate', (s) => (s.blocks[0].se.gate = 'tanh'), '$.blocks[0].se.gate', /hsigmoid/],
  ['SE squeeze of zero', (s) => (s.blocks[0].se.squeeze = 0), '$.blocks[0].se.squeeze', />0/],
  ['missing exp on a bneck', (s) => delete s.blocks[2].exp, '$.blocks[2].exp', /missing \(expected number\)/],
  ['unknown field', (s) => (s.blocks[2].expansion = 3), '$.blocks[2]', /Unrecognized key: "expansion"/],
  ['wrong schema version', (s) => (s.schemaVersion = 2), '$.schemaVersion', /expected 1/],
  ['not an archspec', (s) => (s.kind = 'arch-spec'), '$.kind', /archspec/],
  ['zero classes', (s) => (s.classes = 0), '$.classes', />0/],
  ['dropout of 1', (s) => (s.dropout = 1), '$.dropout', /<1/],
  ['tiny resolution', (s) => (s.input.resolution = 4), '$.input.resolution', />=8/],
  ['id with a dot', (s) => (s.blocks[0].id = 'b.1'), '$.blocks[0].id', /letters/],
  ['blocks not a list', (s) => (s.blocks = {}), '$.blocks', /expected array/],
];

for (const [title, mutate, path, mentions] of badCases) {
  test(`rejects: ${title}`, (t) => {
    const spec = good() as any;
    mutate(spec);
    const err = t.throws(() => parseArchSpec(spec, 'bad.json'), { instanceOf: ValidationError });
    t.true(err!.message.startsWith('bad.json: '), err!.message);
    const issue = err!.issues.find((i) => i.path === path);
    t.truthy(issue, `no issue at ${path}: ${err!.message}`);
    if (mentions) t.regex(issue!.message, mentions);
  });
}

test('a non-object is rejected at the root', (t) => {
  const err = t.throws(() => parseArchSpec([1, 2], 'list.json'), { instanceOf: ValidationError });
  t.regex(err!.message, /^list\.json: \$: expected object/);
});

test('the shipped JSON Schema is generated from the current definitions', (t) => {
  const shipped = JSON.parse(readFileSync(`${PROJECT_ROOT}/schema/archspec.schema.json`, 'utf8'));
  t.deepEqual(shipped, archSpecJsonSchema(), 'run `npm run schema` to regenerate schema/archspec.schema.json');
});

test('specDifferences lists where two specs differ as networks, by JSON path with both values; name and provenance aside', (t) => {
  const small = zooSpec('mobilenetv3-small-1.0');
  t.deepEqual(specDifferences(small, { ...good(), name: 'renamed', provenance: { command: 'x', seed: 3 } }), []);
  const other = good();
  other.input.resolution = 32;
  other.classes = 10;
  (other.blocks[3] as { exp: number }).exp = 64;
  other.blocks[0]!.se = null;
  other.blocks.pop();
  t.is(
    formatDifferences(specDifferences(small, other)),
    'input.resolution: 224 vs 32; blocks.length: 11 vs 10; blocks[0].se: {"squeeze":8,"gate":"hsigmoid","activ... vs null; blocks[3].exp: 96 vs 64; and 1 more',
  );
  t.deepEqual(specDifferences(small, other).at(-1), { path: 'classes', a: 1000, b: 10 });
  t.is(
    formatDifferences(specDifferences(small, { ...small, task: { type: 'classification' } } as ArchSpec)),
    'task: absent vs {"type":"classification"}',
  );
});
