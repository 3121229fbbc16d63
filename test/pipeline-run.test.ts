/** The pipeline run directory without training: its record validated on read, inputs checked by content hash, bad starts refused early. */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError, ValidationError } from '../src/common/errors.js';
import { silentLogger } from '../src/common/log.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { readExperiment } from '../src/controller/experiment.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import { setupSearch } from '../src/controller/setup.js';
import type { Trial } from '../src/controller/store.js';
import { keepWallTime } from '../src/pipeline/pipeline.js';
import { PipelineRunDir } from '../src/pipeline/pipeline-run.js';
import { openPipeline, reinstateIfBestUnchanged } from '../src/pipeline/pipeline-start.js';
import { nas } from './helpers/cli.js';
import { tinySearchFiles } from './helpers/search.js';

const PIPELINE = {
  train: { epochs: 1, resolution: 16, seed: 1 },
  netadapt: { finetuneSteps: 2, deltaRatio: 0.1, tolerance: 0.02, validationSamples: 64 },
  finalEpochs: 1,
};

const TRIAL: Trial = {
  trial: 0,
  batch: 0,
  slot: 0,
  choices: [0],
  specHash: 'h',
  spec: '{}',
  latencyMs: 1,
  accuracy: 0.5,
  reward: 0.5,
  logProb: -1,
  trainSeconds: 1,
  memoised: false,
  error: null,
  finishedAt: 'now',
};

async function newPipeline() {
  const { dir, experimentFile } = tinySearchFiles({ pipeline: PIPELINE });
  const run = new PipelineRunDir(path.join(dir, 'p'));
  const record = await run.create(readExperiment(experimentFile), 'nas pipeline (test)');
  return { dir, run, record };
}

test('pipeline.json: written with every stage pending, read back; a bad field is named with the file and its JSON path', async (t) => {
  const { run, record } = await newPipeline();
  t.deepEqual(run.read(), record);
  t.is(record.stages.train.state, 'pending');
  t.is(record.stages.train.dir, 'train');
  const raw = JSON.parse(readFileSync(run.file('record'), 'utf8'));
  raw.stages.train.state = 'finished';
  writeFileSync(run.file('record'), JSON.stringify(raw));
  const err = t.throws(() => run.read(), { instanceOf: ValidationError });
  t.true(err.message.startsWith(run.file('record')), err.message);
  t.regex(err.message, /\$\.stages\.train\.state/);
  await t.throwsAsync(run.create(record.experiment, 'again'), { instanceOf: InputError, message: /already holds a pipeline/ });
});

test("a running stage's wall time is saved while it runs (a kill -9 keeps it), and no more once the stage stops the clock", async (t) => {
  const { run, record } = await newPipeline();
  record.stages.search = { ...record.stages.search, state: 'running' };
  let seconds = 12.5;
  const clock = keepWallTime({ run, record, log: silentLogger }, 'search', () => seconds, 5);
  const savedSeconds = () => run.read().stages.search.wallSeconds;
  for (let waited = 0; savedSeconds() !== 12.5 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  t.is(savedSeconds(), 12.5);
  t.is(run.read().stages.search.state, 'running');
  await clock.stop();
  seconds = 99;
  await new Promise((r) => setTimeout(r, 50));
  t.is(savedSeconds(), 12.5, 'stopped: nothing written after stop');
});

test('--resume --budget below the trials an unfinished search did, or any budget change of a supernet search, exits 2 and writes nothing', async (t) => {
  const { run, record } = await newPipeline();
  const searchRun = new SearchRunDir(run.stageDir('search'));
  mkdirSync(searchRun.dir, { recursive: true });
  writeFileSync(searchRun.file('run'), '{}'); // the search started: its trials count, not its record
  const store = searchRun.trialStore();
  for (const trial of [0, 1, 2]) store.add({ ...TRIAL, trial, slot: trial });
  store.close();
  const resume = (budget: number) => openPipeline({ resume: run.dir, budget, command: 'nas pipeline --resume (test)' }, () => undefined);
  await t.throwsAsync(resume(2), {
    instanceOf: InputError,
    message: /--budget 2 is below the 3 trials the search of .* already did: give --budget 3 or more/,
  });
  t.deepEqual(run.read(), record, 'the record is left as it was');

  const supernet = { ...record.experiment, evaluator: 'supernet' as const };
  const other = new PipelineRunDir(path.join(run.dir, '..', 'supernet'));
  const supernetRecord = await other.create(supernet, 'nas pipeline (test)');
  await t.throwsAsync(
    openPipeline({ resume: other.dir, budget: 99, command: 'x' }, () => undefined),
    {
      instanceOf: InputError,
      message:
        /--budget 99: the pipeline in .* searches with a supernet, whose budget \(\d+\) fixes its warm-up and learning-rate schedule; resume without --budget/,
    },
  );
  t.deepEqual(other.read(), supernetRecord);
});

test('an extended search that keeps its best architecture gets its training, NetAdapt and evaluation back instead of running them again; one that changes it runs them anew', async (t) => {
  const { run, record } = await newPipeline();
  const best = path.join(run.dir, 'search', 'best.json');
  mkdirSync(path.dirname(best), { recursive: true });
  writeFileSync(best, '{"best":"first"}');
  for (const stage of ['train', 'netadapt'] as const) {
    mkdirSync(run.stageDir(stage), { recursive: true });
    writeFileSync(path.join(run.stageDir(stage), 'result.json'), `{"stage":"${stage}"}`);
  }
  const done = (inputs: string[], outputs: Record<string, unknown>) => ({
    state: 'done' as const,
    command: 'nas ...',
    inputs: run.hashInputs(inputs),
    outputs,
    wallSeconds: 5,
  });
  record.experiment = { ...record.experiment, budget: 2 };
  record.stages.search = { ...record.stages.search, ...done([], { trials: 2 }) };
  record.stages.train = { ...record.stages.train, ...done([best], { valTop1: 0.8 }) };
  record.stages.netadapt = { ...record.stages.netadapt, ...done([run.stageDir('train')], { steps: 3 }) };
  record.stages.evaluate = { ...record.stages.evaluate, ...done([], { testTop1: 0.79 }) };
  await run.write(record);
  const finished = structuredClone(record.stages);
  const extend = async (budget: number) => {
    const opened = await openPipeline({ resume: run.dir, budget, command: `nas pipeline --budget ${budget}` }, () => undefined);
    t.true(['train', 'netadapt', 'evaluate'].every((stage) => opened.record.stages[stage as 'train'].state === 'pending'));
    // The extended search finishes (its trials and wall time are the pipeline's business, not this test's).
    opened.record.stages.search = { ...opened.record.stages.search, state: 'done', outputs: { trials: budget } };
    return opened.record;
  };

  const kept = await extend(4);
  t.false(existsSync(run.stageDir('train')), 'moved aside while the search runs');
  t.true(await reinstateIfBestUnchanged(run, kept));
  t.deepEqual([kept.stages.train, kept.stages.netadapt, kept.stages.evaluate], [finished.train, finished.netadapt, finished.evaluate]);
  t.like(run.read().budgetChanges, [{ from: 2, to: 4, superseded: 'superseded-1', reinstated: true }]);
  t.is(readFileSync(path.join(run.stageDir('netadapt'), 'result.json'), 'utf8'), '{"stage":"netadapt"}');
  t.notThrows(() => run.checkInputs(run.read()));
  t.false(await reinstateIfBestUnchanged(run, kept), 'once');

  const changed = await extend(6);
  writeFileSync(best, '{"best":"second"}');
  t.false(await reinstateIfBestUnchanged(run, changed));
  t.is(changed.stages.train.state, 'pending');
  t.true(existsSync(path.join(run.dir, 'superseded-2', 'train', 'result.json')));
  t.false(existsSync(run.stageDir('train')));
});

test('an extended search that keeps its best architecture gets back a training that was still running, to resume from its checkpoint', async (t) => {
  const { run, record } = await newPipeline();
  const best = path.join(run.dir, 'search', 'best.json');
  mkdirSync(path.dirname(best), { recursive: true });
  writeFileSync(best, '{"best":"first"}');
  mkdirSync(path.join(run.stageDir('train'), 'checkpoint'), { recursive: true });
  writeFileSync(path.join(run.stageDir('train'), 'checkpoint', 'step.json'), '{"step":120}');
  record.experiment = { ...record.experiment, budget: 2 };
  record.stages.search = { ...record.stages.search, state: 'done', command: 'nas search ...', outputs: { trials: 2 }, wallSeconds: 5 };
  record.stages.train = {
    ...record.stages.train,
    state: 'running',
    command: 'nas train ...',
    inputs: run.hashInputs([best]),
    wallSeconds: 30,
  };
  await run.write(record);
  const running = structuredClone(record.stages.train);

  const opened = await openPipeline({ resume: run.dir, budget: 4, command: 'nas pipeline --budget 4' }, () => undefined);
  t.is(opened.record.stages.train.state, 'pending');
  t.false(existsSync(run.stageDir('train')), 'moved aside while the search runs');
  opened.record.stages.search = { ...opened.record.stages.search, state: 'done', outputs: { trials: 4 } };

  t.true(await reinstateIfBestUnchanged(run, opened.record));
  t.deepEqual(opened.record.stages.train, running);
  t.is(opened.record.stages.netadapt.state, 'pending');
  t.is(readFileSync(path.join(run.stageDir('train'), 'checkpoint', 'step.json'), 'utf8'), '{"step":120}');
});

test('stage inputs: recorded by sha256 (a checkpoint directory by its files), an edited or missing one refused by name', async (t) => {
  const { run, record } = await newPipeline();
  const file = path.join(run.dir, 'search', 'best.json');
  const checkpoint = path.join(run.dir, 'train', 'checkpoint');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '{"a":1}');
  mkdirSync(checkpoint, { recursive: true });
  writeFileSync(path.join(checkpoint, 'spec.json'), '{}');
  record.stages.train.inputs = run.hashInputs([file]);
  record.stages.netadapt.inputs = run.hashInputs([checkpoint]);
  t.deepEqual(Object.keys(record.stages.netadapt.inputs), ['train/checkpoint']);
  t.notThrows(() => run.checkInputs(record));
  writeFileSync(path.join(checkpoint, 'spec.json'), '{ }');
  t.throws(() => run.checkInputs(record), {
    instanceOf: InputError,
    message: new RegExp(`^${checkpoint}: changed since the netadapt stage`),
  });
  writeFileSync(path.join(checkpoint, 'spec.json'), '{}');
  writeFileSync(file, '{"a":2}');
  t.throws(() => run.checkInputs(record), { instanceOf: InputError, message: new RegExp(`^${file}: changed since the train stage`) });
  rmSync(file);
  t.throws(() => run.checkInputs(record), { instanceOf: InputError, message: new RegExp(`^${file}: gone since the train stage`) });
});

test('nas pipeline: a target no member of the space can reach exits 2 before writing anything', async (t) => {
  const { dir, experimentFile } = tinySearchFiles({ pipeline: PIPELINE, reward: { targetMs: 0.01, constraint: 'soft', w: -0.15 } });
  const out = path.join(dir, 'p');
  const run = await nas('pipeline', '--experiment', experimentFile, '--out', out);
  t.is(run.code, 2, run.stderr);
  t.regex(run.stderr, /can meet the target/);
  t.false(existsSync(out));
});

test('nas pipeline --resume --experiment OTHER names the settings that differ in one short line, not the descriptions', async (t) => {
  const { dir, run, record } = await newPipeline();
  const resumeWith = async (changes: object) => {
    const file = path.join(dir, 'other.json');
    writeFileSync(file, JSON.stringify({ ...record.experiment, ...changes }));
    return nas('pipeline', '--resume', run.dir, '--experiment', file);
  };
  const description = 'Another experiment, described at length. '.repeat(20);
  const other = await resumeWith({ name: 'other', description, seed: 4 });
  t.is(other.code, 2, other.stderr);
  const line = other.stderr.trim();
  t.regex(
    line,
    /^nas: .*other\.json: not the experiment the pipeline in .*p ran: \$\.seed: 3 vs 4 \(the pipeline's value, then this one's\); resume without --experiment, or start a new pipeline with --out$/,
  );
  t.false(line.includes('described at length'), line);
  const renamed = await resumeWith({ description });
  t.regex(renamed.stderr, /ran: \$\.description: absent vs "Another experiment, described at len\.\.\. \(/);
});

test('a resumed pipeline takes another parallelism, from --parallel or an experiment that differs only there; the rest of its experiment stays', async (t) => {
  const { run, record } = await newPipeline();
  const check = () => t.fail('a resumed pipeline is not checked as a new one');
  const fromFlag = await openPipeline({ resume: run.dir, parallel: 3, command: 'nas pipeline (test)' }, check);
  t.is(fromFlag.record.experiment.parallel, 3);
  t.is(run.read().experiment.parallel, 3, 'pipeline.json holds it: the later stages run with it');
  const fromFile = await openPipeline(
    { resume: run.dir, experiment: { ...record.experiment, parallel: 1 }, command: 'nas pipeline (test)' },
    check,
  );
  t.is(run.read().experiment.parallel, 1);
  t.deepEqual({ ...fromFile.record.experiment, parallel: record.experiment.parallel }, record.experiment);
});

test('nas pipeline --resume of a directory without pipeline.json exits 2 saying so', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-not-pipeline-'));
  const run = await nas('pipeline', '--resume', dir);
  t.is(run.code, 2, run.stderr);
  t.regex(run.stderr, /no pipeline\.json, not a pipeline run/);
});

test("the shipped pipeline experiments validate, price their targets on their tables (reachable) and carry the paper's w", (t) => {
  const dir = path.join(PROJECT_ROOT, 'experiments');
  const shipped = readdirSync(dir).filter((file) => file.endsWith('.json'));
  const pipelines = shipped.filter((file) => readExperiment(path.join(dir, file)).pipeline);
  t.deepEqual(pipelines.sort(), ['pipeline-large.json', 'pipeline-small.json', 'v3-large-pipeline.json', 'v3-small-pipeline.json']);
  for (const file of pipelines) {
    const experiment = readExperiment(path.join(dir, file));
    const setup = setupSearch(experiment, experiment.latency.classes);
    t.true(setup.rewardSettings.targetMs > 0, file);
  }
  t.like(readExperiment(path.join(dir, 'v3-small-pipeline.json')).reward, {
    w: -0.15,
    targetMs: { spec: 'mobilenetv3-small-1.0', scale: 1 },
  });
  t.like(readExperiment(path.join(dir, 'v3-large-pipeline.json')).reward, {
    w: -0.07,
    targetMs: { spec: 'mobilenetv3-large-1.0', scale: 1 },
  });
  // This machine's budgets keep the paper's reward: pipeline-small is v3-small's, pipeline-large v3-large's.
  t.deepEqual(
    readExperiment(path.join(dir, 'pipeline-small.json')).reward,
    readExperiment(path.join(dir, 'v3-small-pipeline.json')).reward,
  );
  t.deepEqual(
    readExperiment(path.join(dir, 'pipeline-large.json')).reward,
    readExperiment(path.join(dir, 'v3-large-pipeline.json')).reward,
  );
});
