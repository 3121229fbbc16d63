import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError } from '../src/common/errors.js';
import { type Experiment, experimentDifferences, ignoredSettings, readExperiment } from '../src/controller/experiment.js';
import { checkExperimentFile, setupSearch } from '../src/controller/setup.js';
import { ChoiceSpace } from '../src/search-space/choice-space.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { syntheticTable, tinyExperiment, tinySpaceDefinition } from './helpers/search.js';

/** A folder holding an experiment file in `exp/` whose space, table and target spec sit beside it in subfolders. */
function experimentBesideItsFiles(overrides: Partial<Experiment> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-experiment-'));
  const expDir = path.join(dir, 'exp');
  for (const sub of ['spaces', 'tables', 'specs', 'images']) mkdirSync(path.join(expDir, sub), { recursive: true });
  writeFileSync(path.join(expDir, 'spaces', 'tiny.json'), JSON.stringify(tinySpaceDefinition()));
  writeFileSync(path.join(expDir, 'tables', 'tiny.json'), JSON.stringify(syntheticTable(new ChoiceSpace(tinySpaceDefinition()))));
  writeFileSync(path.join(expDir, 'specs', 'target.json'), JSON.stringify(zooSpec('mobilenetv3-small-1.0')));
  const file = path.join(expDir, 'experiment.json');
  const experiment = tinyExperiment('spaces/tiny.json', 'tables/tiny.json', {
    reward: { targetMs: { spec: 'specs/target.json', scale: 1 }, constraint: 'soft', w: -0.15 },
    ...overrides,
  });
  writeFileSync(file, JSON.stringify(experiment));
  return { dir, expDir, file, experiment };
}

test("an experiment file's relative paths are taken from its directory, whatever the current one; names stay names", (t) => {
  const { expDir, file, experiment } = experimentBesideItsFiles({
    proxy: { ...tinyExperiment('tiny', 'default').proxy, dataset: 'folder:images' },
  });
  t.not(process.cwd(), expDir);
  const read = readExperiment(file);
  t.is(read.space, path.join(expDir, 'spaces', 'tiny.json'));
  t.is(read.latency.table, path.join(expDir, 'tables', 'tiny.json'));
  t.deepEqual(read.reward.targetMs, { spec: path.join(expDir, 'specs', 'target.json'), scale: 1 });
  t.is(read.proxy.dataset, `folder:${path.join(expDir, 'images')}`);
  t.deepEqual(
    { ...read, space: '', latency: { ...read.latency, table: '' }, reward: experiment.reward, proxy: experiment.proxy },
    {
      ...experiment,
      space: '',
      latency: { ...experiment.latency, table: '' },
    },
  );
  const named = path.join(expDir, 'named.json');
  writeFileSync(named, JSON.stringify(tinyExperiment('mnasnet', 'default')));
  t.like(readExperiment(named), { space: 'mnasnet', latency: { table: 'default' }, proxy: { dataset: 'fashion-mnist' } });
});

test('an experiment recorded with paths relative to the directory it ran in is the same experiment as its file read now', (t) => {
  const { file } = experimentBesideItsFiles();
  const given = readExperiment(file);
  const relative = (p: string) => path.relative(process.cwd(), p);
  const recorded = { ...given, space: relative(given.space), latency: { ...given.latency, table: relative(given.latency.table) } };
  t.deepEqual(experimentDifferences(recorded, given), []);
  t.deepEqual(
    experimentDifferences({ ...recorded, space: 'elsewhere/tiny.json' }, given).map((d) => d.path),
    ['$.space'],
  );
});

test('reading an experiment file checks what it names but the table, each failure naming the file and the field', (t) => {
  const { file, experiment } = experimentBesideItsFiles();
  const pipeline = {
    train: { epochs: 1, resolution: 16, seed: 0 },
    netadapt: { finetuneSteps: 1, deltaRatio: 0.1, tolerance: 0.1, validationSamples: 8 },
    finalEpochs: 1,
  };
  const cases: [object, RegExp][] = [
    [{ proxy: { ...experiment.proxy, dataset: 'folder:absent' } }, /\$\.proxy\.dataset: dataset folder:\S*absent: no such directory$/],
    [
      { proxy: { ...experiment.proxy, dataset: 'fashion-mosaic' } },
      /\$\.proxy\.dataset: fashion-mosaic is a segmentation task .* a search's members classify/,
    ],
    [{ latency: { ...experiment.latency, resolution: 4 } }, /\$\.latency\.resolution: no member of space tiny takes a 4x4 input/],
    [
      { pipeline: { ...pipeline, train: { ...pipeline.train, resolution: 6 } } },
      /\$\.pipeline\.train\.resolution: no member of space tiny takes a 6x6/,
    ],
    [
      { pipeline: { ...pipeline, netadapt: { ...pipeline.netadapt, targetMs: { spec: 'specs/absent.json', scale: 1 } } } },
      /\$\.pipeline\.netadapt\.targetMs\.spec: "\S*specs\/absent\.json" is neither a zoo model name .* nor a spec file$/,
    ],
    [{ pipeline: { ...pipeline, reference: 'mobilenetv9' } }, /\$\.pipeline\.reference: "mobilenetv9" is neither a zoo model name/],
  ];
  for (const [change, message] of cases) {
    writeFileSync(file, JSON.stringify({ ...experiment, ...change }));
    const error = t.throws(() => readExperiment(file), { instanceOf: InputError });
    t.true(error?.message.startsWith(`${file}: $.`), error?.message);
    t.regex(error?.message ?? '', message);
  }
  // `nas search --table` may replace the table: reading the file leaves it to setupSearch, which names the file when given it.
  writeFileSync(file, JSON.stringify({ ...experiment, latency: { ...experiment.latency, table: 'tables/absent.json' } }));
  t.notThrows(() => readExperiment(file));
  t.throws(() => checkExperimentFile(file), {
    instanceOf: InputError,
    message: `${file}: $.latency.table: ${path.join(path.dirname(file), 'tables', 'absent.json')}: no such latency table`,
  });
  t.throws(() => setupSearch(readExperiment(file), 10), { message: /^\S*absent\.json: no such latency table$/ });
});

test("ignoredSettings: the proxy.train fields a supernet search does not use, and a proxy search's supernet section", (t) => {
  const proxy = tinyExperiment('tiny', 'default');
  t.deepEqual(ignoredSettings(proxy), []);
  t.deepEqual(ignoredSettings({ ...proxy, supernet: { warmup: 0.5 } }), [
    'the supernet section is ignored: it sets the weight-sharing evaluator, and this experiment\'s is "proxy"',
  ]);
  const supernet = tinyExperiment('tiny', 'default', { evaluator: 'supernet', supernet: { warmup: 0.5 } });
  t.deepEqual(ignoredSettings({ ...supernet, proxy: { ...supernet.proxy, train: { batchSize: 16, seed: 2 } } }), [
    "proxy.train.seed is ignored by the supernet evaluator: the experiment's seed seeds it",
  ]);
  t.deepEqual(
    ignoredSettings(supernet).map((line) => line.split(' ')[0]),
    ['proxy.train.epochs'],
    'the tiny experiment trains its children 1 epoch',
  );
});
