import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { PROJECT_ROOT } from '../src/common/version.js';
import { type Experiment, readExperiment } from '../src/controller/experiment.js';
import { runSearch } from '../src/controller/search.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import { setupSearch } from '../src/controller/setup.js';
import type { TrialStore } from '../src/controller/store.js';
import { readArchSpec } from '../src/search-space/io.js';
import { NAS, nas, nasIn, nasTrainTiny } from './helpers/cli.js';
import { filesUnder } from './helpers/files.js';
import { SurrogateEvaluator, tinyExperiment, tinySearchFiles } from './helpers/search.js';
import { tinySpec } from './helpers/tiny.js';

/** Process ids of the direct children of `pid` (the search's training workers). */
function childPids(pid: number): number[] {
  const out = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);
}

/** CPU seconds a process has used (user + system), from /proc: how far a worker got, whatever the machine's load. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Whether a process still runs: exists and is not a zombie (an exited orphan waits to be reaped by init, at its pace). */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

function files() {
  return tinySearchFiles({ budget: 6, batchSize: 3, parallel: 2 });
}

/**
 * How long training workers may outlive a search killed with SIGKILL. They exit within a fraction
 * of a second; the margin is for a machine busy with other work (the tests run two at a time).
 */
const ORPHAN_LIMIT_SECONDS = 5;

/** Seconds until none of `pids` is alive any more (or `limit` seconds, when some still are). */
async function secondsUntilGone(pids: number[], since: number, limit = 3 * ORPHAN_LIMIT_SECONDS): Promise<number> {
  while (pids.some(isAlive) && performance.now() - since < limit * 1000) await new Promise((r) => setTimeout(r, 50));
  return (performance.now() - since) / 1000;
}

/** What a stack trace or an uncaught error looks like on stderr (the workers' `Error: write EPIPE`). */
const STACK_TRACE = /Error: |^\s+at /m;

test('nas search trains children with proxy training; kill -9 loses no finished trial and --resume completes the run', async (t) => {
  const { dir, experimentFile } = files();
  const runDir = path.join(dir, 'run');
  // stderr is a pipe the workers inherit: what they print after the kill shows there.
  const child = spawn(process.execPath, [NAS, 'search', '--experiment', experimentFile, '--out', runDir], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // Wait for the first finished trial, then kill the process without warning.
  const deadline = Date.now() + 120_000;
  let before: ReturnType<TrialStore['all']> = [];
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    if (!existsSync(path.join(runDir, 'trials.sqlite'))) continue;
    const store = new SearchRunDir(runDir).trialStore();
    before = store.all();
    store.close();
    if (before.length >= 1) break;
  }
  const workers = childPids(child.pid!);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const killedAt = performance.now();
  t.true(before.length >= 1, 'a trial finished before the kill');
  t.true(workers.length > 0, 'the search had training workers');
  const orphanSeconds = await secondsUntilGone(workers, killedAt);
  t.log(`training workers gone ${orphanSeconds.toFixed(2)} s after kill -9 of the search`);
  t.true(orphanSeconds < ORPHAN_LIMIT_SECONDS, 'workers exit when their parent goes away, not when their child finishes');
  await new Promise((r) => setTimeout(r, 200));
  t.notRegex(stderr, STACK_TRACE, 'the workers go quietly');

  const resumed = await nas('search', '--resume', runDir, '--json');
  t.is(resumed.code, 0, resumed.stderr);
  const result = JSON.parse(resumed.stdout.trim().split('\n').pop()!);
  t.is(result.trials, 6);
  t.deepEqual(Object.keys(result), ['trials', 'best', 'runDir']);
  t.deepEqual(Object.keys(result.best), ['accuracy', 'latencyMs', 'reward', 'spec']);
  const store = new SearchRunDir(runDir).trialStore();
  const after = store.all();
  store.close();
  t.is(after.length, 6);
  for (const trial of before) t.deepEqual(after[trial.trial], trial, `trial ${trial.trial} kept as it was`);
  t.true(after.some((trial) => !trial.memoised && trial.accuracy > 0 && trial.error === null));
  const validated = await nas('validate', result.best.spec, experimentFile);
  t.is(validated.code, 0, validated.stderr);
});

test('kill -9 of a search whose workers are deep in synchronous work (a validation pass): they exit at once, quietly', async (t) => {
  // Each child trains one step, then validates 5,000 images at 128x128: half a minute in which the
  // worker's event loop never runs, so it cannot hear its parent go.
  const proxy = {
    dataset: 'fashion-mnist',
    resolution: 128,
    train: { epochs: 1, trainSamples: 16, validationSamples: 5000, batchSize: 16 },
  };
  const { dir, experimentFile } = tinySearchFiles({ budget: 4, batchSize: 2, parallel: 2, proxy });
  const child = spawn(process.execPath, [NAS, 'search', '--experiment', experimentFile, '--out', path.join(dir, 'run')], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let workers: number[] = [];
  const deadline = Date.now() + 120_000;
  while (workers.length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    workers = childPids(child.pid!);
  }
  t.is(workers.length, 2, 'the search started its two training workers');
  t.teardown(() => {
    for (const pid of workers.filter(isAlive)) process.kill(pid, 'SIGKILL');
  });
  // Starting a worker (tfjs, the dataset) takes about 3 CPU seconds here; 5 are well inside the
  // first child's validation pass, on a busy machine as on an idle one.
  while (workers.some((pid) => cpuSeconds(pid) < 5) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.log(`kill -9 of the search with its workers at ${workers.map((pid) => cpuSeconds(pid).toFixed(1)).join(' and ')} CPU seconds`);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const orphanSeconds = await secondsUntilGone(workers, performance.now());
  t.log(`busy training workers gone ${orphanSeconds.toFixed(2)} s after kill -9 of the search`);
  t.true(orphanSeconds < ORPHAN_LIMIT_SECONDS, `workers outlived the search by ${orphanSeconds.toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 200));
  t.notRegex(stderr, STACK_TRACE, 'the workers go quietly');
});

test('nas search --resume S --budget N extends a finished search to N trials; N below the trials done exits 2 saying how many', async (t) => {
  // One trial ends inside the first batch of 2: the extension completes that batch.
  const { dir, experimentFile } = tinySearchFiles({ budget: 1, batchSize: 2, parallel: 1 });
  const runDir = path.join(dir, 'run');
  const first = await nas('search', '--experiment', experimentFile, '--out', runDir, '--json');
  t.is(first.code, 0, first.stderr);
  const extended = await nas('search', '--resume', runDir, '--budget', '2', '--json');
  t.is(extended.code, 0, extended.stderr);
  t.is(JSON.parse(extended.stdout.trim().split('\n').pop()!).trials, 2);
  const store = new SearchRunDir(runDir).trialStore();
  t.deepEqual(
    store.all().map((trial) => [trial.trial, trial.batch, trial.slot]),
    [
      [0, 0, 0],
      [1, 0, 1],
    ],
  );
  store.close();
  t.is(new SearchRunDir(runDir).readRecord().experiment.budget, 2, 'run.json holds the new budget');
  const below = await nas('search', '--resume', runDir, '--budget', '1');
  t.is(below.code, 2);
  t.regex(below.stderr, /--budget 1 is below the 2 trials already done in .*run: give --budget 2 or more/);
  t.is(
    below.stderr
      .trim()
      .split('\n')
      .filter((line) => !line.startsWith('{')).length,
    1,
    below.stderr,
  );
});

test("nas search --resume S --parallel N trains the rest N children at once; every child scores as in a run that never changed it (whose directory's space and quote the printed commands quote)", async (t) => {
  const { dir, experimentFile } = tinySearchFiles({ budget: 2, batchSize: 2, parallel: 1 });
  const [changed, unchanged] = [path.join(dir, "it's changed"), path.join(dir, 'unchanged')];
  const first = await nas('search', '--experiment', experimentFile, '--out', changed);
  t.is(first.code, 0, first.stderr);
  t.true(first.stdout.includes(`--out '${dir}/it'\\''s changed/train'\n`), `the printed command quotes the path: ${first.stdout}`);
  t.regex(first.stdout, /^2 trials in .*: best [\d.]+% \(validation top-1 after proxy training\) at [\d.]+ ms/);
  const resumed = await nas('search', '--resume', changed, '--budget', '4', '--parallel', '2');
  t.is(resumed.code, 0, resumed.stderr);
  const whole = await nas('search', '--experiment', experimentFile, '--out', unchanged, '--budget', '4');
  t.is(whole.code, 0, whole.stderr);
  const scores = (runDir: string) => {
    const store = new SearchRunDir(runDir).trialStore();
    const all = store.all().map((trial) => [trial.choices.join(''), trial.accuracy]);
    store.close();
    return all;
  };
  t.is(scores(changed).length, 4);
  t.deepEqual(scores(changed), scores(unchanged));
});

test("a search's best.json (the proxy model at 16 px, deployed at 32) trains with nas train and is priced by nas latency at its deployment input", async (t) => {
  const { dir, experimentFile, tableFile } = tinySearchFiles({ algorithm: 'random', budget: 2, batchSize: 2 }, 32);
  const experiment = readExperiment(experimentFile);
  const runDir = path.join(dir, 'S');
  await runSearch({ experiment, runDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setupSearch(experiment, 10));
  const bestFile = path.join(runDir, 'best.json');
  t.is(readArchSpec(bestFile).input.resolution, 16);

  const summary = new SearchRunDir(runDir).trialStore();
  const bestTrial = summary.all().reduce((a, b) => (b.reward > a.reward ? b : a));
  summary.close();
  // Without --table, on the table the run recorded (a name not in tables/: the file in run.json).
  for (const extra of [['--table', tableFile], [], ['--breakdown']]) {
    const priced = await nas('latency', '--arch', bestFile, '--json', ...extra);
    t.is(priced.code, 0, priced.stderr);
    t.regex(priced.stderr, /priced at its deployment input 32x32, 10 classes/);
    if (!extra.length) t.true(priced.stderr.includes(`priced on table synthetic (${tableFile}), as tiny-search-best was`), priced.stderr);
    t.is(JSON.parse(priced.stdout).latencyMs, bestTrial.latencyMs, "the latency the search gave it, on the search's table");
  }

  // Outside its run, best.json still names its table's file (provenance.deployment.tableFile).
  const moved = path.join(dir, 'best-elsewhere.json');
  copyFileSync(bestFile, moved);
  const pricedElsewhere = await nas('latency', '--arch', moved, '--json');
  t.is(pricedElsewhere.code, 0, pricedElsewhere.stderr);
  t.is(JSON.parse(pricedElsewhere.stdout).latencyMs, bestTrial.latencyMs);

  const trainRun = path.join(runDir, 'train');
  const trained = await nasTrainTiny(bestFile, trainRun, { train: 64, validation: 32 }, '--json');
  t.is(trained.code, 0, trained.stderr);
  t.true(existsSync(path.join(trainRun, 'checkpoint', 'model.json')));
  // The trained checkpoint's spec keeps the find's provenance: priced on the search's table from inside the run too.
  const fromCheckpoint = await nas('latency', '--arch', path.join(trainRun, 'checkpoint', 'spec.json'), '--json');
  t.is(fromCheckpoint.code, 0, fromCheckpoint.stderr);
  t.true(fromCheckpoint.stderr.includes(`priced on table synthetic (${tableFile})`), fromCheckpoint.stderr);
  t.is(JSON.parse(fromCheckpoint.stdout).latencyMs, bestTrial.latencyMs);
  // A table file since replaced by another table is not taken for the one the spec names.
  writeFileSync(tableFile, JSON.stringify({ ...JSON.parse(readFileSync(tableFile, 'utf8')), name: 'another' }));
  const replaced = await nas('latency', '--arch', moved);
  t.is(replaced.code, 2, replaced.stderr);
  t.regex(replaced.stderr, /was priced on table synthetic \(its provenance\.deployment\.table\), which is not at /);
});

test('nas search --resume with another seed, algorithm or experiment exits 2 naming the fields that differ', async (t) => {
  const { dir, experimentFile } = tinySearchFiles({ algorithm: 'reinforce', budget: 2, batchSize: 2 });
  const experiment = readExperiment(experimentFile);
  const runDir = path.join(dir, 'S');
  await runSearch({ experiment, runDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setupSearch(experiment, 10));
  const seed = await nas('search', '--resume', runDir, '--seed', '5');
  t.is(seed.code, 2, seed.stderr);
  t.regex(
    seed.stderr,
    /^nas: .*S ran another experiment: \$\.seed \(--seed\): 3 vs 5 \(the run's value, then the one given\); resume without/m,
  );
  const both = await nas('search', '--resume', runDir, '--seed', '5', '--algorithm', 'random');
  t.regex(both.stderr, /ran another experiment: \$\.algorithm \(--algorithm\): "reinforce" vs "random"; \$\.seed \(--seed\): 3 vs 5 \(/);
  // A file that also renames and redescribes the experiment: the settings that differ are named, not its description.
  const otherFile = path.join(dir, 'other.json');
  writeFileSync(otherFile, JSON.stringify({ ...experiment, name: 'other', description: 'x'.repeat(500), seed: 4 }));
  const other = await nas('search', '--resume', runDir, '--experiment', otherFile);
  t.is(other.code, 2, other.stderr);
  t.regex(other.stderr, /ran another experiment: \$\.seed \(--seed\): 3 vs 4 \(/);
  t.false(other.stderr.includes('xxx'), other.stderr);
});

test("a supernet search warns, one line each, that --parallel and the proxy.train fields it does not use are ignored, and says its score is the inherited weights' validation top-1", async (t) => {
  const supernet = { candidates: 2, topK: 1, rankingSamples: 32, validationBatch: 16, recalibrationBatches: 1 };
  const { dir, experimentFile } = tinySearchFiles({ evaluator: 'supernet', budget: 2, batchSize: 2, supernet });
  const runDir = path.join(dir, 'S');
  const res = await nas('search', '--experiment', experimentFile, '--parallel', '2', '--out', runDir);
  t.is(res.code, 0, res.stderr);
  t.regex(res.stdout, /^2 trials in .*: best [\d.]+% \(validation top-1, inherited supernet weights\) at [\d.]+ ms/, res.stdout);
  // One next step, training from scratch: a fine-tune from best-weights trained no better (results/supernet.md).
  t.regex(res.stdout, /\ntrain it standalone: \S*nas train --arch \S*best\.json --dataset \S+ --out \S+\n$/, res.stdout);
  const warnings = res.stderr
    .split('\n')
    .filter((line) => line.includes('"level":40'))
    .map((line) => JSON.parse(line).msg);
  t.deepEqual(warnings, [
    '--parallel 2 is ignored: a supernet search trains one network, in this process (it sets how many children the proxy evaluator trains at once)',
    'proxy.train.epochs is ignored by the supernet evaluator: the supernet trains budget / (1 - supernet.warmup) steps',
  ]);
  t.is(new SearchRunDir(runDir).readRecord().experiment.parallel, 1);
});

test('nas search: bad experiment files and resuming a non-run exit 2', async (t) => {
  const { dir } = files();
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...tinyExperiment('mnasnet', 'default'), algorithm: 'evolution' }));
  const res = await nas('search', '--experiment', bad, '--out', path.join(dir, 'x'));
  t.is(res.code, 2);
  t.regex(res.stderr, /bad\.json.*\$\.algorithm/);
  const unknownSpace = path.join(dir, 'unknown-space.json');
  writeFileSync(unknownSpace, JSON.stringify(tinyExperiment('mobilenetv9', 'default')));
  const space = await nas('search', '--experiment', unknownSpace, '--out', path.join(dir, 'y'));
  t.is(space.code, 2);
  t.regex(space.stderr, /^nas: .*unknown-space\.json: \$\.space: unknown space "mobilenetv9": choose one of/);
  // Refused before the run directory is written: the same --out works once the file is fixed.
  const refusals: [Partial<Experiment>, RegExp][] = [
    [
      { proxy: { ...tinyExperiment('mnasnet', 'default').proxy, resolution: 7 } },
      /\$\.proxy\.resolution: no member of space mnasnet takes a 7x7 input/,
    ],
    [{ proxy: { ...tinyExperiment('mnasnet', 'default').proxy, dataset: 'mnist' } }, /\$\.proxy\.dataset: unknown dataset "mnist"/],
    [{ latency: { table: 'nosuch', resolution: 16, classes: 10 } }, /\$\.latency\.table: \S*nosuch\.json: no such latency table/],
  ];
  for (const [change, message] of refusals) {
    const file = path.join(dir, 'refused.json');
    writeFileSync(file, JSON.stringify(tinyExperiment('mnasnet', 'default', change)));
    const refused = await nas('search', '--experiment', file, '--out', path.join(dir, 'z'));
    t.is(refused.code, 2, refused.stderr);
    t.regex(refused.stderr, new RegExp(`^nas: .*refused\\.json: ${message.source}`, 'm'));
    t.false(existsSync(path.join(dir, 'z')));
  }
  const notRun = await nas('search', '--resume', dir);
  t.is(notRun.code, 2);
  t.regex(notRun.stderr, /not a search run directory \(no run\.json\)/);
  const described = await nas('space', 'describe', 'mnasnet', '--json');
  t.is(JSON.parse(described.stdout).choicePoints.length, 42);
});

test('nas search --out or --resume a training run exits 2 naming what the directory holds, and writes nothing there', async (t) => {
  const { dir, experimentFile } = files();
  const trainRun = path.join(dir, 'train');
  const specFile = path.join(dir, 'tiny-spec.json');
  writeFileSync(specFile, JSON.stringify(tinySpec()));
  const trained = await nasTrainTiny(specFile, trainRun, { train: 64, validation: 32 });
  t.is(trained.code, 0, trained.stderr);
  const before = filesUnder(trainRun);
  const holds = `${trainRun} holds a training run (its run.json is of kind "train-run"), not a search run: choose another --out`;
  for (const args of [
    ['--experiment', experimentFile, '--out', trainRun],
    ['--resume', trainRun],
  ]) {
    const res = await nas('search', ...args);
    t.is(res.code, 2, res.stderr);
    t.is(res.stderr.trim().split('\n').pop(), `nas: ${holds}`);
    t.deepEqual(filesUnder(trainRun), before);
  }
});

test('nas search without --out names its directory runs/<experiment>-<time> with the name made safe: no subdirectory, nothing outside runs/', async (t) => {
  const { dir, experimentFile } = tinySearchFiles({ name: '../escape me/x', budget: 1, batchSize: 1, parallel: 1 });
  const cwd = path.join(dir, 'work');
  mkdirSync(cwd);
  const res = await nasIn(cwd, 'search', '--experiment', experimentFile, '--json');
  t.is(res.code, 0, res.stderr);
  const runDir = JSON.parse(res.stdout.trim().split('\n').pop()!).runDir as string;
  t.regex(runDir, /^runs\/escape-me-x-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d$/);
  t.deepEqual(readdirSync(cwd), ['runs']);
  t.deepEqual(readdirSync(path.join(cwd, 'runs')), [path.basename(runDir)]);
  t.true(new SearchRunDir(path.join(cwd, runDir)).isRun());
});
