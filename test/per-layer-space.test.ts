import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ValidationError } from '../src/common/errors.js';
import { derive } from '../src/common/rng.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { readExperiment } from '../src/controller/experiment.js';
import { runSearch } from '../src/controller/search.js';
import { setupSearch } from '../src/controller/setup.js';
import type { BneckBlock } from '../src/search-space/archspec.js';
import { ChoiceSpace, parseSearchSpace, readSearchSpace } from '../src/search-space/choice-space.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { specHash } from '../src/search-space/spec-hash.js';
import { Supernet } from '../src/supernet/supernet.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { everyMember, perLayerSpaceDefinition, SurrogateEvaluator, syntheticTable, tinyExperiment } from './helpers/search.js';
import { supernetParity } from './helpers/supernet.js';

test.before(async () => {
  await prepareBackend('auto');
});

const space = () => new ChoiceSpace(perLayerSpaceDefinition());

test('a per-layer stage has one choice point per field and layer after its whole-stage ones; a first layer is never zero', (t) => {
  const s = space();
  t.deepEqual(
    s.choicePoints.map((c) => `${c.path}:${c.options.length}`),
    [
      'stages[0].layerDelta:2',
      'stages[0].layers[0].op:2',
      'stages[0].layers[0].kernel:2',
      'stages[0].layers[1].op:3',
      'stages[0].layers[1].kernel:2',
      'stages[0].layers[2].op:3',
      'stages[0].layers[2].kernel:2',
      'stages[1].op:2',
      'stages[1].filterMultiplier:2',
      'stages[1].layerDelta:2',
    ],
  );
  t.deepEqual(s.choicePoints[1]!.options, ['mbconv3', 'mbconv6']);
  t.true(Math.abs(s.log10Size - Math.log10(2304)) < 1e-9);
  t.true(Math.abs(s.log10Members - Math.log10(672)) < 1e-9);
  // 3 layers: MBConv6 k5, zero, MBConv3 k3; then dsconv x1, 1 layer.
  const spec = s.materialise([1, 1, 1, 2, 0, 0, 0, 0, 1, 0]);
  t.deepEqual(
    spec.blocks.map((b) => [b.id, b.type, b.kernel, b.stride, b.out, b.residual]),
    [
      ['b1', 'bneck', 5, 1, 16, false],
      ['b2', 'bneck', 3, 1, 16, true],
      ['b3', 'dsconv', 3, 2, 24, false],
    ],
  );
  t.deepEqual([(spec.blocks[0] as BneckBlock).exp, (spec.blocks[1] as BneckBlock).exp], [6 * 8, 3 * 16]);
  t.deepEqual(
    [...s.blockPlaces([1, 1, 1, 2, 0, 0, 0, 0, 1, 0]).entries()],
    [
      ['b1', { stage: 0, position: 0 }],
      ['b2', { stage: 0, position: 2 }],
      ['b3', { stage: 1, position: 0 }],
    ],
  );
  // With 2 layers, the third layer's choices are ignored.
  t.is(specHash(s.materialise([0, 0, 0, 0, 0, 2, 1, 0, 0, 0])), specHash(s.materialise([0, 0, 0, 0, 0, 0, 0, 0, 0, 0])));
});

test('the existing spaces keep their choice points and meaning (no per-layer stage)', (t) => {
  for (const name of ['mnasnet', 'mobilenetv3', 'mobilenetv3-ibn']) {
    const s = getChoiceSpace(name);
    t.true(
      s.choicePoints.every((c) => c.layer === null && c.path === `stages[${c.stage}].${c.field}`),
      name,
    );
  }
});

test('every member of the tiny per-layer space: counted members are the distinct networks, ops are enumerated, DP finds the fastest', (t) => {
  const { specs, notListed, fastestMs, dpFastestMs } = everyMember(space(), syntheticTable(space()));
  t.is(new Set(specs.map(specHash)).size, 672);
  t.deepEqual(notListed, [], 'ops not enumerated');
  t.true(Math.abs(dpFastestMs - fastestMs) < 1e-9, `${dpFastestMs} vs ${fastestMs}`);
});

test('per-layer fields and the zero op are validated with the JSON path', (t) => {
  const bad = (patch: Record<string, unknown>) => {
    const data = structuredClone(perLayerSpaceDefinition()) as unknown as { stages: Record<string, unknown>[] };
    Object.assign(data.stages[0]!, patch);
    return () => parseSearchSpace(data, 'bad.json');
  };
  t.throws(bad({ perLayer: ['op', 'seRatio'] }), {
    instanceOf: ValidationError,
    message: /bad\.json: \$\.stages\[0\]\.perLayer\[1\]: seRatio is not a choice in this stage/,
  });
  t.throws(bad({ perLayer: ['op', 'kernel', 'op'] }), { message: /\$\.stages\[0\]\.perLayer\[2\]: op is listed twice/ });
  t.throws(bad({ perLayer: ['kernel'] }), { message: /\$\.stages\[0\]\.op: zero \(no layer\) is a per-layer choice/ });
  t.throws(bad({ op: { choice: ['zero'] } }), { message: /\$\.stages\[0\]\.op: zero needs other ops beside it/ });
  t.throws(bad({ perLayer: ['filterMultiplier'] }), { message: /\$\.stages\[0\]\.perLayer\[0\]/ });
});

test('the supernet runs per-layer members, zero layers included, with the logits of their built models', (t) => {
  const s = space();
  const supernet = new Supernet(s, { resolution: 16, classes: 10, seed: 7 });
  const rng = derive(2, 'per-layer members');
  for (const choices of [[1, 1, 1, 2, 0, 0, 0, 0, 1, 0], s.randomChoices(rng), s.randomChoices(rng)]) {
    const { diff } = supernetParity(supernet, choices, 1);
    t.true(diff < 1e-4, `member ${choices.join('')}: max |difference| ${diff}`);
  }
  supernet.dispose();
});

test.serial('a search over the tiny per-layer space runs to completion', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-per-layer-'));
  const spaceFile = path.join(dir, 'space.json');
  writeFileSync(spaceFile, JSON.stringify(perLayerSpaceDefinition()));
  const tableFile = path.join(dir, 'table.json');
  writeFileSync(tableFile, JSON.stringify(syntheticTable(space())));
  const experiment = tinyExperiment(spaceFile, tableFile, { budget: 8 });
  const summary = await runSearch(
    { experiment, runDir: path.join(dir, 'run'), evaluator: new SurrogateEvaluator(), command: 'test' },
    setupSearch(experiment, 10),
  );
  t.is(summary.trials, 8);
});

test('the shipped experiments and spaces are valid; the phone-table experiments say how to obtain their tables', (t) => {
  const experiments = path.join(PROJECT_ROOT, 'experiments');
  for (const file of readdirSync(path.join(experiments, 'spaces')))
    t.notThrows(() => readSearchSpace(path.join(experiments, 'spaces', file)));
  for (const file of readdirSync(experiments).filter((f) => f.endsWith('.json'))) {
    const experiment = readExperiment(path.join(experiments, file));
    t.notThrows(() => getChoiceSpace(experiment.space), file);
    if (file === 'ofa-note10.json' || file === 'proxyless-mobile.json')
      t.regex(experiment.latency.obtain ?? '', /nas table import --format/);
  }
  t.is(getChoiceSpace('ofa-mobilenetv3').choicePoints.length, 45);
  t.is(getChoiceSpace('proxylessnas').choicePoints.length, 42);
});
