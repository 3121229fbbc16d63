/** Two specs side by side, stage by stage (src/search-space/stage-compare.ts). */
import test from 'ava';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { compareStages, comparisonSummary, renderStageComparison, specStages } from '../src/search-space/stage-compare.js';
import { zooSpec } from '../src/search-space/zoo/index.js';

const small = () => zooSpec('mobilenetv3-small-1.0');
const large = () => zooSpec('mobilenetv3-large-1.0');

/** `stage:attribute` of every row where the two specs differ. */
const differences = (found: ArchSpec, reference: ArchSpec) =>
  compareStages(found, reference).stages.flatMap((s) => s.rows.filter((r) => !r.agree).map((r) => `${s.index}:${r.attribute}`));

test('the stages of MobileNetV3-Small and -Large: a new stage at every stride-2 block and every width change', (t) => {
  t.deepEqual(
    specStages(small()).map((s) => `${s.blocks.join(',')} /${s.outputStride} ${s.out}`),
    ['b1 /4 16', 'b2,b3 /8 24', 'b4,b5,b6 /16 40', 'b7,b8 /16 48', 'b9,b10,b11 /32 96'],
  );
  const stages = specStages(large());
  t.deepEqual(
    stages.map((s) => s.blocks.length),
    [1, 2, 3, 4, 2, 3],
  );
  t.deepEqual(stages[3]!.expansion, [6, 2.5, 2.3, 2.3], 'expansion / input width per layer, one decimal');
  t.deepEqual(stages[0]!.expansion, [null], 'a dsconv block has no expansion');
});

test('MobileNetV3-Small against itself agrees everywhere', (t) => {
  const c = compareStages(small(), small());
  t.deepEqual(differences(small(), small()), []);
  t.deepEqual(c.unmatched, []);
  t.deepEqual(c.agreement, { op: 5, kernel: 5, expansion: 5, se: 5, activation: 5, layers: 5, out: 5 });
  t.regex(comparisonSummary(c), /^found again: op in 5 of 5 stages, kernel in 5 of 5, .*; differs: nowhere$/);
});

test('one known change: exactly that stage and attribute differ', (t) => {
  const changed = small();
  const b5 = changed.blocks.find((b) => b.id === 'b5')!;
  b5.kernel = 3;
  t.deepEqual(differences(changed, small()), ['3:kernel']);
  const row = compareStages(changed, small()).stages[2]!.rows.find((r) => r.attribute === 'kernel')!;
  t.like(row, { reference: '5', found: '5/3', agree: false });
  // SE off in the last stage, and one layer fewer there.
  const noSe = small();
  noSe.blocks = noSe.blocks.filter((b) => b.id !== 'b11').map((b) => (['b9', 'b10'].includes(b.id) ? { ...b, se: null } : b));
  t.deepEqual(differences(noSe, small()), ['5:se', '5:layers']);
  t.regex(comparisonSummary(compareStages(noSe, small())), /; differs: SE in stage 5, layers in stage 5$/);
});

test('MobileNetV3-Large against -Small: the differences worked out by hand, stages paired by output stride', (t) => {
  const c = compareStages(large(), small());
  // Small: b1 /4 | b2-b3 /8 | b4-b6 /16 | b7-b8 /16 | b9-b11 /32; Large: b1 /2 | b2-b3 /4 | b4-b6 /8 | b7-b10 /16 | b11-b12 /16 | b13-b15 /32.
  t.deepEqual(
    c.stages.map((s) => s.found?.blocks.join(',')),
    ['b2,b3', 'b4,b5,b6', 'b7,b8,b9,b10', 'b11,b12', 'b13,b14,b15'],
  );
  t.deepEqual(
    c.unmatched.map((s) => s.blocks),
    [['b1']],
    "Large's stride-1 first block has no counterpart",
  );
  t.deepEqual(differences(large(), small()), [
    ...['1:op', '1:expansion', '1:se', '1:layers', '1:out'],
    ...['2:kernel', '2:expansion', '2:se', '2:layers', '2:out'],
    ...['3:kernel', '3:expansion', '3:se', '3:layers', '3:out'],
    ...['4:kernel', '4:expansion', '4:out'],
    '5:out',
  ]);
  t.deepEqual(c.agreement, { op: 4, kernel: 2, expansion: 1, se: 2, activation: 5, layers: 2, out: 0 });
  const markdown = renderStageComparison(c);
  t.regex(markdown, /\| 2 \(\/8, 24 wide\) \| b2,b3 vs b4,b5,b6 \| bneck \| \*\*3 vs 5\*\* \| \*\*4\.5\/3\.7 vs 3\*\* \|/);
  t.regex(markdown, /\| found only \(\/2, 16 wide\) \| none vs b1 \|/);
  t.regex(markdown, /1 found stage with no counterpart/);
});
