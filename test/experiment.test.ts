import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { type Experiment, experimentDifferences, readExperiment } from '../src/controller/experiment.js';
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
