/**
 * No run is written into a directory holding another kind (refuseOtherRunKind): each run module's
 * record, written by the module itself, is taken for its own kind and refused to every other, and
 * each module refuses such a directory before it writes there.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError } from '../src/common/errors.js';
import { type RunKind, refuseOtherRunKind } from '../src/common/run-kind.js';
import { TOOL_NAME } from '../src/common/version.js';
import { readExperiment } from '../src/controller/experiment.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import { NETADAPT_HISTORY_VERSION, NetAdaptRunDir } from '../src/netadapt/netadapt-run.js';
import { PipelineRunDir } from '../src/pipeline/pipeline-run.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { trainConfig } from '../src/trainer/config.js';
import { runTrainJob } from '../src/trainer/train-job.js';
import { TrainRunDir } from '../src/trainer/train-run.js';
import { inheritedCheckpoint } from './helpers/checkpoint.js';
import { filesUnder } from './helpers/files.js';
import { tinyImageFolder } from './helpers/folder.js';
import { startedSearchRun, tinySearchFiles } from './helpers/search.js';
import { tinySpec } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-run-kind-'));

const NAMES: Record<RunKind, string> = {
  search: 'a search run',
  train: 'a training run',
  netadapt: 'a NetAdapt run',
  pipeline: 'a pipeline',
};
const KINDS = Object.keys(NAMES) as RunKind[];

test.before(async () => {
  await prepareBackend('auto');
});

/** A directory of each run kind, its record written by the kind's own module. */
async function runOfEachKind(): Promise<Record<RunKind, string>> {
  const dir = tmp();
  const search = await startedSearchRun(path.join(dir, 'search'));
  const train = new TrainRunDir(path.join(dir, 'train'));
  await train.writeRecord({ command: 'nas train (test)', spec: 'tiny', specHash: 'h', dataset: 'fashion-mnist', config: trainConfig({}) });
  const netadapt = new NetAdaptRunDir(path.join(dir, 'netadapt'));
  await netadapt.writeHistory({
    schemaVersion: NETADAPT_HISTORY_VERSION,
    kind: 'netadapt-history',
    tool: TOOL_NAME,
    ...{ seedSpec: 'h', seedCheckpoint: dir, seedLatencyMs: 1, seedAccuracy: 0.5, targetMs: 0.5, settings: {}, table: 'synthetic' },
    tableRef: search.readRecord().table!,
    ...{ steps: [], measuredEntries: {}, finished: false },
  });
  const pipeline = new PipelineRunDir(path.join(dir, 'pipeline'));
  await pipeline.create(readExperiment(tinySearchFiles().experimentFile), 'nas pipeline (test)');
  return { search: search.dir, train: train.dir, netadapt: netadapt.dir, pipeline: pipeline.dir };
}

test("each run module's directory is taken for its own kind and refused to every other, naming what it holds", async (t) => {
  const runs = await runOfEachKind();
  for (const held of KINDS) {
    t.notThrows(() => refuseOtherRunKind(runs[held], held), held);
    for (const wanted of KINDS.filter((kind) => kind !== held)) {
      const err = t.throws(() => refuseOtherRunKind(runs[held], wanted), { instanceOf: InputError });
      t.true(err!.message.startsWith(`${runs[held]} holds ${NAMES[held]} (its `), err!.message);
      t.true(err!.message.endsWith(`not ${NAMES[wanted]}: choose another --out`), err!.message);
    }
  }
  t.notThrows(() => refuseOtherRunKind(tmp(), 'train'), 'an empty directory');
  t.notThrows(() => refuseOtherRunKind(path.join(tmp(), 'new'), 'search'), 'a directory still to be made');
});

test('every run module refuses a directory of another kind before writing anything there', async (t) => {
  const runs = await runOfEachKind();
  const before = Object.fromEntries(KINDS.map((kind) => [kind, filesUnder(runs[kind])]));
  const experiment = readExperiment(tinySearchFiles().experimentFile);
  const inputs = { table: new SearchRunDir(runs.search).readRecord().table!, spaceHash: 'space' };
  const refusals: [string, () => unknown][] = [
    ['a new search', () => new SearchRunDir(runs.train).open(experiment, false, inputs)],
    ['a resumed search', () => new SearchRunDir(runs.netadapt).open(experiment, true, inputs)],
    ['a search record', () => new SearchRunDir(runs.pipeline).readRecord()],
    ['a training with --force', () => new TrainRunDir(runs.search).refuseExistingRun({ force: true })],
    ['a resumed training', () => new TrainRunDir(runs.pipeline).refuseExistingRun({ resume: true })],
    ['a new NetAdapt run', () => new NetAdaptRunDir(runs.search).open({ seedHash: 'h', table: inputs.table, dataset: 'x' }, false)],
    ['a resumed NetAdapt run', () => new NetAdaptRunDir(runs.train).resumable()],
    ['a resumed pipeline', () => new PipelineRunDir(runs.search).read()],
  ];
  for (const [what, open] of refusals) t.throws(open, { instanceOf: InputError, message: /holds .*: choose another --out/ }, what);
  await t.throwsAsync(new PipelineRunDir(runs.netadapt).create(experiment, 'nas pipeline (test)'), {
    message: /holds a NetAdapt run .*not a pipeline/,
  });
  for (const kind of KINDS) t.deepEqual(filesUnder(runs[kind]), before[kind], `${kind}: unchanged`);
});

test("a supernet search's best-weights and a training's checkpoint directory are no run directory; best-weights says what to do with it", async (t) => {
  const bestWeights = await inheritedCheckpoint(path.join(tmp(), 'best-weights'));
  const checkpoint = path.join(bestWeights, 'checkpoint');
  const err = t.throws(() => new TrainRunDir(bestWeights).refuseExistingRun({ resume: true }), { instanceOf: InputError });
  t.is(
    err!.message,
    `${bestWeights} holds a supernet member's inherited weights (its checkpoint/state.json is of kind "inherited-weights"), not a training run: choose another --out; ` +
      `nas train --init-from ${checkpoint} --arch ${path.join(checkpoint, 'spec.json')} fine-tunes them, nas eval --checkpoint ${checkpoint} scores them`,
  );
  t.throws(() => refuseOtherRunKind(checkpoint, 'train'), {
    message: /holds a supernet member's inherited weights \(its state\.json/,
  });
  const trained = path.join(tmp(), 'trained');
  const job = {
    spec: tinySpec({ resolution: 16, classes: 2 }),
    dataset: `folder:${tinyImageFolder()}`,
    config: { epochs: 1, batchSize: 16 },
  };
  await runTrainJob({ ...job, outDir: trained, backend: 'auto', command: 'nas train (test)' });
  t.notThrows(() => refuseOtherRunKind(trained, 'train'));
  t.throws(() => refuseOtherRunKind(path.join(trained, 'checkpoint'), 'train'), {
    message:
      /(\S+) holds a training checkpoint \(its state\.json is of kind "trainer-state"\), not a training run: choose another --out; nas eval --checkpoint \1 scores its model$/,
  });
});
