/** Choices that change the shapes in a member: a stage's stride and the stem's width. */
import test from 'ava';
import { derive } from '../src/common/rng.js';
import { predictLatency } from '../src/latency-model/predict/predict.js';
import type { BneckBlock } from '../src/search-space/archspec.js';
import { ChoiceSpace, parseSearchSpace, type SearchSpaceDefinition } from '../src/search-space/choice-space.js';
import { sandwichMembers } from '../src/supernet/sandwich.js';
import { Supernet } from '../src/supernet/supernet.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { everyMember, syntheticTable, tinySpaceDefinition } from './helpers/search.js';
import { supernetParity } from './helpers/supernet.js';

test.before(async () => {
  await prepareBackend('auto');
});

/** The tiny space with its second stage's stride a choice (2 or 1), both stages 16 wide, the first fixed but for the op. */
function strideSpace(): ChoiceSpace {
  const data = structuredClone(tinySpaceDefinition()) as unknown as { stages: Record<string, unknown>[] };
  Object.assign(data.stages[0]!, { kernel: 3, seRatio: 0, activation: 'relu', layerDelta: 0, filterMultiplier: 1 });
  Object.assign(data.stages[1]!, { stride: { choice: [2, 1] }, baseFilters: 16, filterMultiplier: 1, seRatio: 0 });
  return new ChoiceSpace(parseSearchSpace(data as unknown as SearchSpaceDefinition, 'stride space'));
}

const strideIndex = (space: ChoiceSpace) => space.choicePoints.findIndex((c) => c.path === 'stages[1].stride');

test('a stage stride drawn as a choice: its own choice point, last of the stage; the first layer takes it, a stride-1 first layer of equal widths gets its residual', (t) => {
  const space = strideSpace();
  const index = strideIndex(space);
  t.is(index, space.choicePoints.length - 1);
  t.deepEqual(space.choicePoints[index]!.options, [2, 1]);
  const choices = space.choicePoints.map(() => 0);
  const halved = space.materialise(choices);
  const kept = space.materialise(choices.map((c, i) => (i === index ? 1 : c)));
  t.deepEqual(
    halved.blocks.map((b) => b.stride),
    [1, 2],
  );
  t.deepEqual(
    kept.blocks.map((b) => b.stride),
    [1, 1],
  );
  t.false(halved.blocks[1]!.residual);
  t.true(kept.blocks[1]!.residual);
  t.not(predictLatency(halved, syntheticTable(space)).totalMs, predictLatency(kept, syntheticTable(space)).totalMs);
});

test('every member of a space with a stride choice has its ops among the units enumerated, and DP finds the fastest', (t) => {
  const space = strideSpace();
  const { notListed, fastestMs, dpFastestMs } = everyMember(space, syntheticTable(space));
  t.deepEqual(notListed, [], 'ops not enumerated');
  t.true(Math.abs(dpFastestMs - fastestMs) < 1e-9, `${dpFastestMs} vs ${fastestMs}`);
});

test('the supernet runs both strides of a stage from the same weights, with the logits of the built models; the sandwich largest keeps stride 1', (t) => {
  const space = strideSpace();
  const index = strideIndex(space);
  t.is(sandwichMembers(space).largest[index], 1);
  t.is(sandwichMembers(space).smallest[index], 0);
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 3 });
  const base = space.randomChoices(derive(5, 'stride member'));
  for (const stride of [0, 1]) {
    const { diff } = supernetParity(
      supernet,
      base.map((c, i) => (i === index ? stride : c)),
      1,
    );
    t.true(diff < 1e-4, `stride option ${stride}: max |difference| ${diff}`);
  }
  supernet.dispose();
});

/** The tiny space with the stem 8 or 16 wide. */
function stemSpace(): ChoiceSpace {
  const data = structuredClone(tinySpaceDefinition()) as unknown as { stem: Record<string, unknown> };
  data.stem.out = { choice: [8, 16] };
  return new ChoiceSpace(parseSearchSpace(data as unknown as SearchSpaceDefinition, 'stem space'));
}

test("the stem's width drawn as a choice: the first choice point (stem.out), the member's stem and its first block's input follow it", (t) => {
  const space = stemSpace();
  const plain = new ChoiceSpace(tinySpaceDefinition());
  t.deepEqual(space.choicePoints[0], { path: 'stem.out', stage: null, layer: null, field: 'out', options: [8, 16] });
  t.deepEqual(
    space.choicePoints.slice(1).map((c) => c.path),
    plain.choicePoints.map((c) => c.path),
  );
  t.is(space.log10Members, plain.log10Members + Math.log10(2));
  const rest = plain.choicePoints.map(() => 1);
  const plainBlocks = plain.materialise(rest).blocks; // the tiny space's stem is 8 wide
  const narrow = space.materialise([0, ...rest]);
  const wide = space.materialise([1, ...rest]);
  t.deepEqual([narrow.stem.out, wide.stem.out, space.stemWidth([1, ...rest])], [8, 16, 16]);
  t.deepEqual(narrow.blocks, plainBlocks);
  // the first block (an inverted bottleneck x3 here) expands its wider input; the rest is the same
  t.deepEqual([plainBlocks[0]!.type, (plainBlocks[0] as BneckBlock).exp, (wide.blocks[0] as BneckBlock).exp], ['bneck', 24, 48]);
  t.deepEqual(wide.blocks.slice(1), plainBlocks.slice(1));
  t.throws(() => space.materialise(rest), { message: /has \d+ choice points, got a vector of/ });
});

test('every member of a space with a stem choice has its ops enumerated, DP finds the fastest, the sandwich largest takes the widest stem', (t) => {
  const space = stemSpace();
  const { notListed, fastestMs, dpFastestMs } = everyMember(space, syntheticTable(space));
  t.deepEqual(notListed, [], 'ops not enumerated');
  t.true(Math.abs(dpFastestMs - fastestMs) < 1e-9, `${dpFastestMs} vs ${fastestMs}`);
  t.is(sandwichMembers(space).largest[0], 1);
  t.is(sandwichMembers(space).smallest[0], 0);
});

test('the supernet runs both stem widths from one stem slot (the narrow stem its leading channels), with the logits of the built models', (t) => {
  const space = stemSpace();
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 3 });
  t.deepEqual(supernet.variables.get('stem/kernel')!.shape, [3, 3, 1, 16]);
  const rest = space.randomChoices(derive(6, 'stem member')).slice(1);
  for (const option of [0, 1]) t.true(supernetParity(supernet, [option, ...rest], 1).diff < 1e-4);
  supernet.dispose();
});
