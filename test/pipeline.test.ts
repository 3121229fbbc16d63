/**
 * `nas pipeline` end to end on a tiny experiment (budget 2, a few hundred 16 px images per stage):
 * every stage done; kill -9 inside NetAdapt, then --resume, ends with the final spec of an
 * uninterrupted run and redoes no finished stage; a stage input edited by hand, an experiment
 * without a pipeline section and --resume with another experiment exit 2 naming the cause.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { type Experiment, type PipelineSettings, readExperiment } from '../src/controller/experiment.js';
import { predictLatency } from '../src/latency-model/predict/predict.js';
import { parseLatencyTable } from '../src/latency-model/predict/table-schema.js';
import { netadaptSkipReason, pipelineNetAdaptSettings } from '../src/pipeline/pipeline.js';
import { contentHash } from '../src/pipeline/pipeline-run.js';
import { resolve } from '../src/search-space/resolve.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { NAS, nas } from './helpers/cli.js';
import { tinySearchFiles } from './helpers/search.js';
import { maddsLatencies } from './helpers/tables.js';

const PIPELINE: PipelineSettings = {
  train: { epochs: 1, trainSamples: 256, resolution: 16, seed: 1 },
  netadapt: { finetuneSteps: 2, deltaRatio: 0.1, tolerance: 0.02, validationSamples: 64 },
  finalEpochs: 1,
};

/** A target below the searched models' latency on the synthetic table, so NetAdapt has work to do. */
function tinyPipelineFiles(overrides: Partial<Experiment> = { pipeline: PIPELINE }) {
  return tinySearchFiles({
    algorithm: 'random',
    budget: 2,
    batchSize: 2,
    parallel: 2,
    reward: { targetMs: 0.25, constraint: 'soft', w: -0.15 },
    ...overrides,
  });
}

const readRecord = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'pipeline.json'), 'utf8'));

/** Starts a pipeline and sends its process group `signal` once NetAdapt has written its history. */
async function signalDuringNetAdapt(
  experimentFile: string,
  outDir: string,
  signal: NodeJS.Signals,
): Promise<{ stderr: string; code: number | null; stopSeconds: number }> {
  const child = spawn(process.execPath, [NAS, 'pipeline', '--experiment', experimentFile, '--out', outDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const started = performance.now();
  while (!existsSync(path.join(outDir, 'netadapt', 'history.json'))) {
    if (child.exitCode !== null || performance.now() - started > 150_000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const sentAt = performance.now();
  if (child.exitCode === null) process.kill(-child.pid!, signal);
  const code = child.exitCode ?? (await exited);
  return { stderr, code, stopSeconds: (performance.now() - sentAt) / 1000 };
}

test('a tiny pipeline runs end to end; kill -9 in NetAdapt and --resume end with the same final spec, redoing no finished stage', async (t) => {
  const { dir, experimentFile } = tinyPipelineFiles();
  const whole = path.join(dir, 'whole');
  const run = await nas('pipeline', '--experiment', experimentFile, '--out', whole);
  t.is(run.code, 0, run.stderr);
  const record = readRecord(whole);
  for (const stage of ['search', 'train', 'netadapt', 'evaluate']) t.is(record.stages[stage].state, 'done', stage);
  t.regex(record.stages.train.command, /^nas train --arch .*search\/best\.json/);
  t.truthy(record.stages.train.inputs['search/best.json']);
  t.truthy(record.stages.netadapt.inputs['train/checkpoint']);
  t.is(typeof record.stages.evaluate.outputs.testTop1, 'number');
  t.is(record.stages.evaluate.outputs.measuredLatencyMs, null, "the synthetic table is not this machine's: nothing measured");
  t.notRegex(record.stages.evaluate.command, /--measure/, 'its recorded command does not ask to time it either');
  t.regex(record.stages.evaluate.outputs.measuredNote, /profiled on synthetic .*not on this machine/);
  t.regex(run.stdout, /netadapt\s+done/);
  t.regex(run.stderr, /trial [12]\/2 best reward/, 'the search stage reports its progress as nas search does');
  t.regex(run.stderr, /"msg":"standalone training: epoch 1\/\d+ step \d+\/\d+ loss/, 'so does the standalone training');
  t.regex(run.stderr, /"msg":"step 1: [\d.]+ -> [\d.]+ ms, accuracy [\d.]+%, proposals \d+\/\d+/, 'and NetAdapt');
  const report = JSON.parse(readFileSync(path.join(whole, 'report.json'), 'utf8'));
  const [, trained, adapted, final] = report.stages;
  t.like(adapted, { stage: 'netadapt', state: 'done', specHash: final.specHash, testTop1: null });
  t.is(adapted.valTop1, record.stages.netadapt.outputs.adaptedValTop1, "NetAdapt's own accuracy, before the final training");
  t.is(final.specHash, record.stages.evaluate.outputs.specHash, 'report.json and pipeline.json name the final spec by one hash');
  t.true(adapted.predictedMs < trained.predictedMs, 'NetAdapt cut the predicted latency');

  const killed = path.join(dir, 'killed');
  const { stderr } = await signalDuringNetAdapt(experimentFile, killed, 'SIGKILL');
  t.is(readRecord(killed).stages.netadapt.state, 'running', stderr);
  const trainResult = path.join(killed, 'train', 'result.json');
  const trainedAt = statSync(trainResult).mtimeMs;
  const searchedAt = statSync(path.join(killed, 'search', 'summary.json')).mtimeMs;
  // NetAdapt would price on a table edited since the search priced on it: refused until it is restored.
  const tableFile = path.join(dir, 'table.json');
  const table = readFileSync(tableFile, 'utf8');
  const reprofiled = JSON.parse(table);
  const [firstKey] = Object.keys(reprofiled.entries);
  reprofiled.entries[firstKey!].median *= 2;
  writeFileSync(tableFile, JSON.stringify(reprofiled));
  const retabled = await nas('pipeline', '--resume', killed);
  t.is(retabled.code, 2, retabled.stderr);
  t.regex(
    retabled.stderr,
    /the search of .* was priced by .*hash [0-9a-f]{16}\), and .*table\.json now has hash [0-9a-f]{16}, and NetAdapt/,
  );
  writeFileSync(tableFile, table);
  const resumed = await nas('pipeline', '--resume', killed, '--json');
  t.is(resumed.code, 0, resumed.stderr);
  const after = readRecord(killed);
  t.is(after.stages.evaluate.state, 'done');
  t.is(after.stages.evaluate.outputs.specHash, record.stages.evaluate.outputs.specHash, 'the same final spec as the uninterrupted run');
  t.is(statSync(trainResult).mtimeMs, trainedAt, 'the training stage was not redone');
  t.is(statSync(path.join(killed, 'search', 'summary.json')).mtimeMs, searchedAt, 'the search stage was not redone');

  const best = path.join(whole, 'search', 'best.json');
  appendFileSync(best, '\n');
  const edited = await nas('pipeline', '--resume', whole);
  t.is(edited.code, 2, edited.stderr);
  t.true(edited.stderr.includes(best), edited.stderr);
  t.regex(edited.stderr, /changed since the train stage read it/);

  const other = JSON.parse(readFileSync(experimentFile, 'utf8'));
  const otherFile = path.join(dir, 'other.json');
  writeFileSync(otherFile, JSON.stringify({ ...other, seed: other.seed + 1 }));
  const another = await nas('pipeline', '--resume', killed, '--experiment', otherFile);
  t.is(another.code, 2, another.stderr);
  t.regex(another.stderr, /not the experiment the pipeline in .* ran: \$\.seed: 3 vs 4 \(the pipeline's value, then this one's\)/);
});

test('Ctrl-C during NetAdapt stops within seconds with exit 130 and says how to continue; --resume finishes', async (t) => {
  const { dir, experimentFile } = tinyPipelineFiles();
  const out = path.join(dir, 'interrupted');
  const { stderr, code, stopSeconds } = await signalDuringNetAdapt(experimentFile, out, 'SIGINT');
  t.is(code, 130, stderr);
  t.true(stopSeconds < 10, `stopped ${stopSeconds.toFixed(1)} s after SIGINT`);
  t.true(stderr.includes(`continue with nas pipeline --resume ${out}`), stderr);
  t.is(readRecord(out).stages.netadapt.state, 'running');
  const resumed = await nas('pipeline', '--resume', out);
  t.is(resumed.code, 0, resumed.stderr);
  t.is(readRecord(out).stages.evaluate.state, 'done');
});

test('an experiment without a pipeline section exits 2 saying what is missing and the section to add', async (t) => {
  const { dir, experimentFile } = tinyPipelineFiles({});
  const out = path.join(dir, 'p');
  const run = await nas('pipeline', '--experiment', experimentFile, '--out', out);
  t.is(run.code, 2, run.stderr);
  t.regex(run.stderr, /no "pipeline" section .* add one, e\.g\. "pipeline": \{"train":\{"epochs":10/);
  t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  t.false(existsSync(out), 'nothing written');
});

test('a reference that is neither a zoo model nor a file exits 2 before anything is written', async (t) => {
  const { dir, experimentFile } = tinyPipelineFiles({ pipeline: { ...PIPELINE, reference: 'mobilenetv3-tiny' } });
  const out = path.join(dir, 'p');
  const run = await nas('pipeline', '--experiment', experimentFile, '--out', out);
  t.is(run.code, 2, run.stderr);
  t.regex(run.stderr, /experiment\.json: \$\.pipeline\.reference: "mobilenetv3-tiny" is neither a zoo model name/);
  t.false(existsSync(out), 'nothing written');
});

test('NetAdapt in a pipeline prices as its search did: ops the table lacks are estimated when latency.missing says so', (t) => {
  const experiment = readExperiment(tinyPipelineFiles().experimentFile);
  t.like(pipelineNetAdaptSettings(experiment, PIPELINE.netadapt, 1.5), {
    targetMs: 1.5,
    metric: 'ratio',
    latencyResolution: experiment.latency.resolution,
    latencyMissing: undefined,
  });
  const estimating = { ...experiment, latency: { ...experiment.latency, missing: 'estimate' as const } };
  t.is(pipelineNetAdaptSettings(estimating, PIPELINE.netadapt, 1.5).latencyMissing, 'estimate');
});

test('why NetAdapt is skipped: within the tolerance, or far below the target (it only cuts latency)', (t) => {
  t.is(
    netadaptSkipReason(13.9, 13.8, 0.03),
    "the trained model's predicted 13.900 ms is 0.7% above the target 13.800 ms: within the 3% tolerance",
  );
  t.is(
    netadaptSkipReason(13.5, 13.8, 0.03),
    "the trained model's predicted 13.500 ms is 2.2% below the target 13.800 ms: within the 3% tolerance",
  );
  t.regex(netadaptSkipReason(16.95, 42.05, 0.03), /16\.950 ms is 59\.7% below the target 42\.050 ms: NetAdapt only cuts latency/);
  // 100 * 0.07 is 7.000000000000001 in floating point: printed as typed.
  t.regex(netadaptSkipReason(13.9, 13.8, 0.07), /within the 7% tolerance$/);
});

test("a pipeline whose trained model is below NetAdapt's own target skips NetAdapt (no directory recorded or written) and measures the final model when the table is this machine's", async (t) => {
  // The search aims at the tight 0.25 ms of the other tests; NetAdapt's target, 50 ms, is the pipeline's.
  const netadapt = { ...PIPELINE.netadapt, targetMs: 50 };
  const pipeline = { ...PIPELINE, netadapt, measure: { passes: 1, maxWaitSeconds: 0 }, reference: 'mobilenetv3-small-1.0' };
  const { dir, experimentFile, tableFile } = tinyPipelineFiles({ pipeline });
  // The synthetic table as if profiled here (the wasm backend on this CPU), so that a time measured here is its latency.
  const table = JSON.parse(readFileSync(tableFile, 'utf8'));
  writeFileSync(tableFile, JSON.stringify({ ...table, device: { ...table.device, backend: 'wasm', cpu: cpus()[0]?.model ?? 'unknown' } }));
  const out = path.join(dir, 'skipped');
  const zooCache = path.join(dir, 'zoo-cache');
  const run = await nas('pipeline', '--experiment', experimentFile, '--out', out, '--backend', 'wasm', '--zoo-cache', zooCache);
  t.is(run.code, 0, run.stderr);
  const record = readRecord(out);
  t.is(record.stages.netadapt.state, 'skipped');
  t.regex(record.stages.netadapt.reason, /below the target 50\.000 ms: NetAdapt only cuts latency/);
  t.is(record.stages.netadapt.dir, null, 'a skipped stage records no directory');
  t.false(existsSync(path.join(out, 'netadapt')), 'and writes none');
  const evaluation = record.stages.evaluate.outputs;
  t.is(evaluation.from, 'train');
  t.true(evaluation.predictedLatencyMs > 0);
  t.true(evaluation.measuredLatencyMs > 0, JSON.stringify(evaluation));
  t.is(evaluation.measuredNote, undefined);
  t.regex(record.stages.evaluate.command, /--measure$/);

  // The closing report: a row per stage, and no zoo model, since the synthetic table prices none.
  const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
  t.is(report.schemaVersion, 1);
  t.is(report.targetMs, 50);
  t.deepEqual(
    report.stages.map((r: { stage: string; state: string }) => `${r.stage}:${r.state}`),
    ['search:done', 'train:done', 'netadapt:skipped', 'final:done'],
  );
  const final = report.stages[3];
  t.is(final.measuredMs, evaluation.measuredLatencyMs);
  t.is(final.testTop1, evaluation.testTop1);
  t.true(final.params > 0 && final.madds > 0);
  t.is(final.specHash, report.stages[1].specHash, 'the final model is the trained one');
  t.deepEqual(report.zoo.models, []);
  t.true(report.zoo.unpriced.includes('mobilenetv3-small-0.35'));
  const markdown = readFileSync(path.join(out, 'report.md'), 'utf8');
  t.regex(markdown, /\| netadapt \| skipped \|/);
  // The final model beside the hand-written reference, stage by stage (its 5 stages).
  t.like(report.comparison, { reference: 'mobilenetv3-small-1.0', found: final.spec });
  t.is(report.comparison.stages.length, 5);
  t.regex(
    markdown,
    /## Against mobilenetv3-small-1\.0, stage by stage\n\nThe final model .*: found again: op in \d of 5 stages, kernel in \d of 5/,
  );
  t.regex(readFileSync(path.join(out, 'report.svg'), 'utf8'), /^<svg/);
  t.regex(run.stdout, /report +.*report\.json \(0 zoo models/);

  // A zoo model priced at the final model's latency: resuming the finished pipeline rewrites the
  // report, training it with the standalone recipe into the cache; a second pipeline reads it.
  priceZooModelAt(tableFile, 'mobilenetv3-small-0.35', evaluation.predictedLatencyMs);
  const withZoo = await nas('pipeline', '--resume', out, '--backend', 'wasm', '--zoo-cache', zooCache);
  t.is(withZoo.code, 0, withZoo.stderr);
  const zooRow = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')).zoo.models[0];
  t.like(zooRow, { stage: 'zoo', state: 'trained', spec: 'mobilenetv3-small-0.35' });
  t.is(typeof zooRow.testTop1, 'number');
  t.true(Math.abs(zooRow.predictedMs / evaluation.predictedLatencyMs - 1) < 0.01, JSON.stringify(zooRow));
  const again = await nas('pipeline', '--resume', out, '--backend', 'wasm', '--zoo-cache', zooCache);
  t.is(again.code, 0, again.stderr);
  const cachedReport = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
  t.like(cachedReport.zoo.models[0], { state: 'cached', testTop1: zooRow.testTop1 });
  t.is(cachedReport.zoo.cached, 1);
  // --no-zoo trains nothing; what the cache holds is still shown.
  const listedFromCache = await nas('pipeline', '--resume', out, '--no-zoo', '--zoo-cache', zooCache);
  t.is(listedFromCache.code, 0, listedFromCache.stderr);
  t.like(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')).zoo, {
    trained: false,
    cached: 1,
    models: [{ state: 'cached', testTop1: zooRow.testTop1 }],
  });
  t.regex(
    readFileSync(path.join(out, 'report.md'), 'utf8'),
    /Not trained \(--no-zoo.*\); 1 of 1 trained with the standalone recipe by an earlier pipeline/,
  );
  const listed = await nas('pipeline', '--resume', out, '--no-zoo', '--zoo-cache', path.join(dir, 'empty-cache'));
  t.is(listed.code, 0, listed.stderr);
  t.like(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')).zoo, {
    trained: false,
    cached: 0,
    models: [{ state: 'untrained', testTop1: null }],
  });
});

/** Adds a zoo model's ops (at the table's 16 px, 10 classes) to a synthetic table so that it predicts `targetMs` for it. */
function priceZooModelAt(tableFile: string, name: string, targetMs: number): void {
  const table = parseLatencyTable(JSON.parse(readFileSync(tableFile, 'utf8')), tableFile);
  const spec = zooSpec(name, { resolution: 16, classes: 10 });
  const added = Object.entries(maddsLatencies(resolve(spec).units)).filter(([key]) => !table.entries[key]);
  const withFactor = (f: number) => ({
    ...table,
    entries: {
      ...table.entries,
      ...Object.fromEntries(added.map(([key, ms]) => [key, { mean: f * ms, median: f * ms, std: 0, runs: 1 }])),
    },
  });
  const [at0, at1] = [0, 1].map((f) => predictLatency(spec, withFactor(f)).totalMs);
  writeFileSync(tableFile, JSON.stringify(withFactor((targetMs - at0!) / (at1! - at0!))));
}

test('--resume --budget N extends a finished search to N trials, moves the later stages aside and runs them again (moves them back when its best architecture stayed); N below the trials done exits 2', async (t) => {
  const { dir, experimentFile } = tinyPipelineFiles({ pipeline: PIPELINE, reward: { targetMs: 50, constraint: 'soft', w: -0.15 } });
  const out = path.join(dir, 'extended');
  const first = await nas('pipeline', '--experiment', experimentFile, '--out', out, '--no-zoo');
  t.is(first.code, 0, first.stderr);
  t.is(readRecord(out).stages.search.outputs.trials, 2);
  const below = await nas('pipeline', '--resume', out, '--budget', '1', '--no-zoo');
  t.is(below.code, 2, below.stderr);
  t.regex(below.stderr, /--budget 1 is below the 2 trials the search of .* already did: give --budget 2 or more/);
  const extended = await nas('pipeline', '--resume', out, '--budget', '4', '--no-zoo');
  t.is(extended.code, 0, extended.stderr);
  const record = readRecord(out);
  t.is(record.stages.search.outputs.trials, 4);
  t.is(record.experiment.budget, 4);
  t.is(JSON.parse(readFileSync(path.join(out, 'experiment.json'), 'utf8')).budget, 4);
  t.like(record.budgetChanges, [{ from: 2, to: 4, superseded: 'superseded-1' }]);
  for (const stage of ['train', 'netadapt', 'evaluate']) t.not(record.stages[stage].state, 'pending', stage);
  // The earlier training is moved back when the extended search kept its best architecture, else kept aside and redone.
  const [change] = record.budgetChanges;
  const bestKept = Object.values(change.supersededStages.train.inputs)[0] === contentHash(path.join(out, 'search', 'best.json'));
  t.is(change.reinstated === true, bestKept);
  t.is(existsSync(path.join(out, 'superseded-1', 'train', 'result.json')), !bestKept, 'the earlier training kept aside');
  t.true(existsSync(path.join(out, 'superseded-1', 'report.json')));
  t.true(existsSync(path.join(out, 'train', 'result.json')) && existsSync(path.join(out, 'report.json')));
});
