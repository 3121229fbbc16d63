/**
 * Does the search beat the hand-designed zoo at equal latency?
 *
 * For three latency targets (the embedded table's latency of mobilenetv3-small-0.75,
 * mobilenetv3-small-1.0 and mobilenetv3-large-0.75, 224x224, 1000 classes) a search (default:
 * experiments/supernet.json with the target swapped in) finds an architecture; then the found
 * architectures and every zoo classifier within 5% of a target or below it are trained with one
 * recipe (default: 5 epochs of the whole Fashion-MNIST training split at 32x32, seeds 1 and 2) and
 * scored on the test split. results/search-vs-zoo.md gets the tables and results/search-vs-zoo.svg
 * the plot (accuracy against predicted latency).
 *
 * Hours of work on 2 cores, so it runs in parts, one target at a time (its search, then both seeds of
 * each of its models): each search's outcome and each training's result
 * is a JSON file under results/search-vs-zoo/, skipped when present; a training interrupted midway
 * resumes from its checkpoint in --runs (on the same machine).
 *
 *   node dist/bench/search-vs-zoo.js [--experiment experiments/supernet.json] [--label NAME] [--epochs 5]
 *       [--targets a,b,c] [--seeds 1,2] [--runs runs/search-vs-zoo] [--max-trainings N] [--report-only] [--no-search]
 *       [--no-zoo] [--random N] [--most-params] [--models a,b]
 *
 * `--label NAME` keeps a second search (another experiment) apart from the first: its records and
 * trainings are named found-NAME-<target>; the report lists every search of a target. `--no-zoo`
 * trains only found models (the zoo's trainings are another process's, or already recorded).
 *
 * `--random N` also trains random search's baseline: the first N uniformly drawn members of the
 * experiment's space within 2% of each target; `--most-params` the member with the most parameters
 * among the first 2,000 such draws. Named random-SPACE-<target>-k and most-params-SPACE-<target>
 * (specs and records beside the found ones), they show whether the search's signal picks better than
 * chance in its own space; the verdict still compares the find with the zoo only.
 *
 * `--netadapt-from found-X-<target> --label NAME` finds each target's model the paper's second way:
 * NetAdapt shrinks that find, as trained at seed 1 (its checkpoint in --runs), to the target (3% of its
 * latency per step at least, the CLI's 100-step fine-tunes, ops the table lacks estimated); the result
 * is recorded and trained as found-NAME-<target>, beside the searches' finds. `--netadapt-parallel N`
 * fine-tunes N proposals at once (a Large-sized seed has 26 a step).
 *
 * `--models a,b` trains only the models named (zoo names or the found-, random- and most-params-
 * names above), e.g. `--seeds 3 --no-search --models found-X-<target>,<zoo model>` to add a seed to
 * a close comparison; every mean in the report takes the seeds recorded.
 *
 * Two cores train two models at once (tfjs-wasm runs one thread in Node): one process with
 * `--seeds 1` (it runs the searches) and one with `--seeds 2 --no-search`, which trains each
 * target's zoo models first and then its found model, waiting for the other process's search.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { interruptExitCode, interruptSignal } from '../src/cli/progress.js';
import { InterruptedError } from '../src/common/errors.js';
import { markdownTable } from '../src/common/format.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../src/common/json-io.js';
import { createLogger } from '../src/common/log.js';
import { derive } from '../src/common/rng.js';
import { RunDirInUseError, runDirOwner } from '../src/common/run-lock.js';
import { differenceStandardError, seedStandardDeviation } from '../src/common/seed-noise.js';
import { scatterPlot } from '../src/common/svg.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { readExperiment } from '../src/controller/experiment.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { deployedLatencyMs } from '../src/latency-model/predict/predict.js';
import { membersNear, type PricedMember, withEstimatedSpaceKeys } from '../src/latency-model/predict/space-latency.js';
import { NetAdaptRunDir, type NetAdaptSummary } from '../src/netadapt/netadapt-run.js';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { specCost } from '../src/search-space/cost.js';
import { readArchSpec } from '../src/search-space/io.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { isZooName, zooSpec } from '../src/search-space/zoo/index.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { trainConfig } from '../src/trainer/config.js';
import { loadDataset } from '../src/trainer/data/index.js';
import { train } from '../src/trainer/train.js';
import { badArgument, benchArguments, lastJsonLine, machineText, numberArgument, numbersArgument, runNasJson } from './report.js';
import { type PricedZooModel, zooLatencies } from './zoo-latencies.js';

/** The issue's three targets: the report always has their sections, whichever --targets a run trains. */
const ISSUE_TARGETS = ['mobilenetv3-small-0.75', 'mobilenetv3-small-1.0', 'mobilenetv3-large-0.75'];
const args = benchArguments(
  {
    experiment: path.join(PROJECT_ROOT, 'experiments', 'supernet.json'),
    label: '',
    epochs: '5',
    targets: ISSUE_TARGETS.join(','),
    seeds: '1,2',
    runs: path.join(PROJECT_ROOT, 'runs', 'search-vs-zoo'),
    'max-trainings': 'Infinity',
    random: '0',
    models: '',
    'netadapt-from': '',
    'netadapt-parallel': '1',
  },
  ['report-only', 'no-search', 'no-zoo', 'most-params'],
);
const EXPERIMENT = args.experiment;
const LABEL = args.label;
const EPOCHS = numberArgument(args, 'epochs');
const SEEDS = numbersArgument(args, 'seeds');
const RUNS = args.runs;
const MAX_TRAININGS = numberArgument(args, 'max-trainings');
const REPORT_ONLY = args['report-only'];
const NO_SEARCH = args['no-search'];
const NO_ZOO = args['no-zoo'];
const RANDOM_MEMBERS = numberArgument(args, 'random');
const MOST_PARAMS = args['most-params'];
/** --models: train only these (e.g. more seeds of one close comparison); empty: every model of the run. */
const ONLY_MODELS = new Set(args.models.split(',').filter(Boolean));
const namedZooModels = [...ONLY_MODELS].filter(isZooName);
if (NO_ZOO && namedZooModels.length > 0)
  badArgument(`--no-zoo trains no zoo model, but --models names ${namedZooModels.join(', ')}: drop --no-zoo or those names`);
/** --netadapt-from: a found model (trained at seed 1) that NetAdapt shrinks to each target instead of a search there. */
const NETADAPT_FROM = args['netadapt-from'];
const NETADAPT_PARALLEL = numberArgument(args, 'netadapt-parallel');
if (NETADAPT_FROM && !LABEL) badArgument('--netadapt-from needs a --label of its own (the shrunk models are named found-LABEL-<target>)');
const PARTS = path.join(PROJECT_ROOT, 'results', 'search-vs-zoo');
const TARGET_MODELS = args.targets.split(',');
const RESOLUTION = 32;
/** A target's name with the search's --label before it (the names of its search run, experiment and found model). */
const labelled = (target: string, label = LABEL) => (label ? `${label}-${target}` : target);
/** The found model of a target's search (as a training job), the record of that search, and of one training, under results/search-vs-zoo/. */
const foundModel = (target: string, label = LABEL) => `found-${labelled(target, label)}`;
const foundFile = (target: string) => path.join(PARTS, `${foundModel(target)}.json`);
const trainedFile = (model: string, seed: number) => path.join(PARTS, `train-${model}-seed${seed}.json`);
/** Ctrl-C or SIGTERM: the training in progress saves a checkpoint and the bench stops (a search, in its own process, gets the terminal's signal too); --report-only trains nothing and keeps Node's own handlers. */
const INTERRUPT = REPORT_ONLY ? new AbortController().signal : interruptSignal(createLogger());
const TOLERANCE = 0.05;
/** Random search's members are drawn within this share of a target (the finds land within 1%). */
const BASELINE_BAND = 0.02;
/** In-band draws the most-parameters baseline is chosen from. */
const MOST_PARAMS_POOL = 2000;

interface Target {
  model: string;
  targetMs: number;
}

interface Found {
  target: string;
  /** The search's --label (absent: the unlabelled search). */
  label?: string;
  targetMs: number;
  /** The experiment the search ran (its target swapped in), relative to the project. */
  experiment: string;
  /** Why the search could not run (e.g. no member of the space reaches the target); nothing else is set. */
  unreachable?: string;
  latencyMs: number;
  withinTolerance: boolean;
  /** The search's own validation top-1 of its find: with inherited supernet weights, or after the proxy evaluator's short training. */
  inheritedTop1: number;
  spec: string;
  wallSeconds: number;
  /** Found by NetAdapt (--netadapt-from), which shrank this model, trained at this seed, to the target; inheritedTop1 is then its last fine-tune's. */
  netadaptFrom?: { model: string; seed: number; steps: number; seedLatencyMs: number };
}

/** A member of the experiment's space drawn for random search's baseline at a target. */
interface Baseline {
  model: string;
  /** A uniform draw, or the draw with the most parameters. */
  draw: 'random' | 'most-params';
  space: string;
  target: string;
  choices: number[];
  latencyMs: number;
  params: number;
  /** Its spec, relative to the project. */
  spec: string;
}

interface Trained {
  model: string;
  seed: number;
  latencyMs: number;
  testTop1: number;
  valTop1: number;
  epochs: number;
  /** CPU time of this process's part of the training (all of it unless `resumed`). */
  cpuSeconds: number;
  /** Whether it went on from a checkpoint an earlier process left. */
  resumed: boolean;
  /** Wall time of its epochs, summed over every process that trained them. */
  epochSeconds: number;
}

const experiment = readExperiment(EXPERIMENT);
const table = loadTable(experiment.latency.table);
const deployed = (spec: ArchSpec) => deployedLatencyMs(spec, table, experiment.latency);

function targets(models: readonly string[] = TARGET_MODELS): Target[] {
  return models.map((model) => ({ model, targetMs: deployed(zooSpec(model)) }));
}

/** Runs (or finishes) the search for one target and records what it found. */
async function search(target: Target): Promise<Found> {
  const file = foundFile(target.model);
  if (existsSync(file)) return readJsonFile(file) as Found;
  const runDir = path.join(RUNS, `search-${labelled(target.model)}`);
  // Another process's search (another bench's, or one whose bench was killed) is left to finish, then resumed here if it recorded nothing.
  for (let owner = runDirOwner(runDir); owner; owner = runDirOwner(runDir)) {
    process.stderr.write(`the search for ${target.model} is running in process ${owner.pid} (${runDir}); waiting for it\n`);
    await pause(`the search for ${target.model}`);
    if (existsSync(file)) return readJsonFile(file) as Found;
  }
  mkdirSync(RUNS, { recursive: true });
  const experimentFile = path.join(RUNS, `experiment-${labelled(target.model)}.json`);
  writeFileSync(
    experimentFile,
    JSON.stringify({
      ...experiment,
      name: `${experiment.name}-${target.model}`,
      reward: { ...experiment.reward, targetMs: { spec: target.model, scale: 1 } },
    }),
  );
  const resume = new SearchRunDir(runDir).isRun();
  const searchArgs = resume ? ['--resume', runDir] : ['--experiment', experimentFile, '--out', runDir];
  process.stderr.write(`search for ${target.model} (${target.targetMs.toFixed(2)} ms): ${runDir}\n`);
  const started = Date.now();
  const child = runNasJson('search', searchArgs, 'pipe');
  process.stderr.write(child.stderr);
  if (child.status === 2 && runDirOwner(runDir)) return search(target); // another process took the directory first
  if (child.status === 2 && !resume) return recordUnreachable(file, target, child.stderr);
  if (child.status === 130 || child.status === 143)
    throw new InterruptedError(`the search for ${target.model} stopped; its checkpoint is in ${runDir}`);
  if (child.status !== 0) throw new Error(`nas search ${searchArgs.join(' ')} exited with ${child.status}`);
  const summary = lastJsonLine<{ best: { accuracy: number; latencyMs: number; spec: string } }>(child.stdout);
  const spec = path.join(PARTS, `${foundModel(target.model)}.spec.json`);
  copyFileSync(summary.best.spec, spec);
  const found: Found = {
    target: target.model,
    ...(LABEL ? { label: LABEL } : {}),
    targetMs: target.targetMs,
    experiment: path.relative(PROJECT_ROOT, EXPERIMENT),
    latencyMs: summary.best.latencyMs,
    withinTolerance: Math.abs(summary.best.latencyMs / target.targetMs - 1) <= TOLERANCE,
    inheritedTop1: summary.best.accuracy,
    spec: path.relative(PROJECT_ROOT, spec),
    wallSeconds: (Date.now() - started) / 1000,
  };
  await writeJsonAtomic(file, { schemaVersion: 1, kind: 'search-vs-zoo-found', ...found });
  return found;
}

/** NetAdapt's seed: the --netadapt-from model's training at this seed (its checkpoint in --runs). */
const NETADAPT_SEED_TRAINING = 1;
/** NetAdapt's smallest cut per step, as a share of the seed's latency: 3% makes a 12% cut in about 4 steps (the CLI's 1% in 12). */
const NETADAPT_DELTA = 0.03;

/** The --netadapt-from model's record and trained run, checked: NetAdapt's seed. */
function netadaptSeed(): { source: Found; seedRun: string } {
  const record = path.join(PARTS, `${NETADAPT_FROM}.json`);
  const seedRun = path.join(RUNS, `train-${NETADAPT_FROM}-seed${NETADAPT_SEED_TRAINING}`);
  if (!existsSync(record)) badArgument(`--netadapt-from ${NETADAPT_FROM}: no such found model (${record} is missing)`);
  if (!existsSync(trainedFile(NETADAPT_FROM, NETADAPT_SEED_TRAINING)) || !existsSync(path.join(seedRun, 'checkpoint')))
    badArgument(
      `--netadapt-from ${NETADAPT_FROM}: no finished seed-${NETADAPT_SEED_TRAINING} training in ${seedRun}; train it first (--no-search --seeds ${NETADAPT_SEED_TRAINING} --models ${NETADAPT_FROM})`,
    );
  if (experiment.latency.missing !== 'estimate')
    badArgument(
      `--netadapt-from: ${EXPERIMENT} must price missing ops (latency.missing "estimate"): NetAdapt's widths are not in the table`,
    );
  return { source: readJsonFile(record) as Found, seedRun };
}

/** Shrinks the --netadapt-from model (its seed-1 training) to one target with NetAdapt and records the result as the target's find. */
async function shrink(target: Target): Promise<Found> {
  const file = foundFile(target.model);
  if (existsSync(file)) return readJsonFile(file) as Found;
  const { source, seedRun } = netadaptSeed();
  const { latency } = experiment;
  const runDir = path.join(RUNS, `netadapt-${labelled(target.model)}`);
  const resume = new NetAdaptRunDir(runDir).isRun();
  const netadaptArgs = [
    ...['--checkpoint', seedRun, '--target-ms', String(target.targetMs), '--delta-ratio', String(NETADAPT_DELTA)],
    ...['--table', latency.table, '--latency-resolution', String(latency.resolution), '--latency-classes', String(latency.classes)],
    ...['--latency-missing', 'estimate', '--parallel', String(NETADAPT_PARALLEL), '--out', runDir, ...(resume ? ['--resume'] : [])],
  ];
  process.stderr.write(`NetAdapt of ${NETADAPT_FROM} to ${target.model} (${target.targetMs.toFixed(2)} ms): ${runDir}\n`);
  const started = Date.now();
  // Its progress goes straight to this process's stderr: minutes per step.
  const child = runNasJson('netadapt', netadaptArgs, 'inherit');
  if (child.status === 130 || child.status === 143)
    throw new InterruptedError(`NetAdapt for ${target.model} stopped; its steps so far are in ${runDir}`);
  if (child.status !== 0) throw new Error(`nas netadapt ${netadaptArgs.join(' ')} exited with ${child.status}`);
  const summary = lastJsonLine<NetAdaptSummary>(child.stdout);
  const spec = path.join(PARTS, `${foundModel(target.model)}.spec.json`);
  copyFileSync(summary.spec, spec);
  const found: Found = {
    target: target.model,
    label: LABEL,
    targetMs: target.targetMs,
    experiment: source.experiment,
    latencyMs: summary.finalLatencyMs,
    withinTolerance: Math.abs(summary.finalLatencyMs / target.targetMs - 1) <= TOLERANCE,
    inheritedTop1: summary.finalAccuracy,
    spec: path.relative(PROJECT_ROOT, spec),
    wallSeconds: (Date.now() - started) / 1000,
    netadaptFrom: { model: NETADAPT_FROM, seed: NETADAPT_SEED_TRAINING, steps: summary.steps, seedLatencyMs: summary.seedLatencyMs },
  };
  await writeJsonAtomic(file, { schemaVersion: 1, kind: 'search-vs-zoo-found', ...found });
  return found;
}

/** A target the search refused (exit 2: bad input, e.g. below the space's fastest member), recorded so the other targets go on. */
async function recordUnreachable(file: string, target: Target, stderr: string): Promise<Found> {
  const reason = stderr.trim().split('\n').pop() ?? 'nas search exited with 2';
  const found: Found = {
    ...target,
    target: target.model,
    ...(LABEL ? { label: LABEL } : {}),
    experiment: path.relative(PROJECT_ROOT, EXPERIMENT),
    unreachable: reason,
    latencyMs: Number.NaN,
    withinTolerance: false,
    inheritedTop1: Number.NaN,
    spec: '',
    wallSeconds: 0,
  };
  await writeJsonAtomic(file, { schemaVersion: 1, kind: 'search-vs-zoo-found', ...found });
  return found;
}

/** Trains one model with one seed (resuming an interrupted training), unless its result is recorded. */
async function trainOnce(model: string, spec: ArchSpec, seed: number, dataset: ReturnType<typeof loadDataset>): Promise<Trained> {
  const file = trainedFile(model, seed);
  if (existsSync(file)) return readJsonFile(file) as Trained;
  const outDir = path.join(RUNS, `train-${model}-seed${seed}`);
  const config = trainConfig({ epochs: EPOCHS, seed }, 'search-vs-zoo recipe');
  process.stderr.write(`training ${model} seed ${seed} (${EPOCHS} epochs): ${outDir}\n`);
  const resumed = existsSync(path.join(outDir, 'checkpoint'));
  const before = process.cpuUsage();
  const result = await train({ spec, dataset, config, outDir, resume: resumed, evaluateTest: true, signal: INTERRUPT }).catch((err) => {
    if (err instanceof InterruptedError)
      throw new InterruptedError(`the training of ${model} seed ${seed} stopped; its checkpoint is in ${outDir}`, { cause: err });
    throw err;
  });
  const used = process.cpuUsage(before);
  const trained: Trained = {
    model,
    seed,
    latencyMs: deployed(spec),
    testTop1: result.top1!,
    valTop1: result.valTop1,
    epochs: result.epochs,
    cpuSeconds: (used.user + used.system) / 1e6,
    resumed,
    epochSeconds: result.history.reduce((sum, epoch) => sum + epoch.seconds, 0),
  };
  await writeJsonAtomic(file, {
    schemaVersion: 1,
    kind: 'search-vs-zoo-training',
    recipe: { epochs: EPOCHS, resolution: RESOLUTION, dataset: 'fashion-mnist', trainSamples: 'all' },
    ...trained,
    date: new Date().toISOString(),
  });
  return trained;
}

/** Every training recorded so far (by this process or another one), read once per report: each model's seeds. */
function readTrainings(): Map<string, Trained[]> {
  const byModel = new Map<string, Trained[]>();
  for (const f of readdirSync(PARTS).filter((name) => /^train-.+-seed\d+\.json$/.test(name))) {
    const trained = readJsonFile(path.join(PARTS, f)) as Trained;
    byModel.set(trained.model, [...(byModel.get(trained.model) ?? []), trained]);
  }
  return byModel;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const meanTop1 = (runs: readonly Trained[]) => 100 * mean(runs.map((r) => r.testTop1));
const meanTop1Text = (runs: readonly Trained[]) =>
  runs.length
    ? `${meanTop1(runs).toFixed(2)} (${[...runs]
        .sort((a, b) => a.seed - b.seed)
        .map((r) => `seed ${r.seed}: ${(100 * r.testTop1).toFixed(2)}`)
        .join(', ')})`
    : 'not trained yet';

/**
 * The issue's verdict for one found model: within the tolerance, and a higher mean than every zoo
 * model at or below the target (+5%), each with all the seeds; null while some training is missing.
 */
function verdict(
  found: Found,
  runs: readonly Trained[],
  zooRuns: readonly { model: string; runs: Trained[] }[],
  seedSd: number,
): string | null {
  const complete = (r: readonly Trained[]) => r.length >= SEEDS.length;
  if (!complete(runs) || !zooRuns.every((z) => complete(z.runs))) return null;
  const best = zooRuns.reduce((a, b) => (meanTop1(b.runs) > meanTop1(a.runs) ? b : a));
  const margin = meanTop1(runs) - meanTop1(best.runs);
  const beats = margin > 0 && found.withinTolerance;
  const error = differenceStandardError(seedSd, runs.length, best.runs.length);
  const noise = Number.isNaN(error)
    ? ''
    : ` (standard error of the difference ${error.toFixed(2)}: ${Math.abs(margin) < 2 * error ? 'within' : 'outside'} seed noise)`;
  return `${beats ? 'beats' : 'does not beat'} the zoo: ${margin >= 0 ? '+' : ''}${margin.toFixed(2)} points${noise} against the best zoo model at this latency, ${best.model} (${meanTop1(best.runs).toFixed(2)})${found.withinTolerance ? '' : '; its latency is outside +-5% of the target'}`;
}

/** Every model trained at seeds 1 and 2, as pairs of test top-1 (%). */
function seedPairs(trainings: ReadonlyMap<string, Trained[]>): [number, number][] {
  const top1At = (runs: readonly Trained[], seed: number) => runs.find((r) => r.seed === seed)?.testTop1;
  return [...trainings.values()].flatMap((runs) => {
    const [first, second] = [top1At(runs, 1), top1At(runs, 2)];
    return first === undefined || second === undefined ? [] : [[100 * first, 100 * second] as [number, number]];
  });
}

/** The report's paragraph on seed noise, and the per-seed standard deviation it states. */
function seedNoise(trainings: ReadonlyMap<string, Trained[]>): { seedSd: number; text: string } {
  const pairs = seedPairs(trainings);
  const seedSd = seedStandardDeviation(pairs);
  if (Number.isNaN(seedSd)) return { seedSd, text: '' };
  const twoSeedError = differenceStandardError(seedSd, 2, 2);
  return {
    seedSd,
    text: `Seed noise: over the ${pairs.length} models trained at seeds 1 and 2, one model's test top-1 has a per-seed standard deviation of about ${seedSd.toFixed(2)} points (from the median gap between its two seeds, so that one diverged training does not set it); a difference between two models' 2-seed means has a standard error of about ${twoSeedError.toFixed(2)}, and the verdicts call a margin under twice its standard error within seed noise.`,
  };
}

/** Per space, random search's members trained with every seed: the mean of their means and their range. */
function randomSearchLines(baselineRuns: readonly (Baseline & { runs: Trained[] })[]): string[] {
  const trained = baselineRuns.filter((b) => b.draw === 'random' && b.runs.length >= SEEDS.length);
  return [...new Set(trained.map((b) => b.space))].map((space) => {
    const means = trained.filter((b) => b.space === space).map((b) => meanTop1(b.runs));
    return `- random search in ${space} (uniform members within ${100 * BASELINE_BAND}% of the target, ${means.length} trained): mean ${mean(means).toFixed(2)}, from ${Math.min(...means).toFixed(2)} to ${Math.max(...means).toFixed(2)}.`;
  });
}

/** What the search's own accuracy of its find was: supernet weights, the proxy evaluator's short training, or NetAdapt's fine-tune. */
function searchScoreKind(found: Found): string {
  if (found.netadaptFrom) return "NetAdapt's last fine-tune";
  const evaluator = readExperiment(path.join(PROJECT_ROOT, found.experiment)).evaluator ?? 'proxy';
  return evaluator === 'supernet' ? 'inherited weights' : "the proxy evaluator's training";
}

/** The experiment that found a model, and NetAdapt's part when it shrank another find to the target. */
function findName(found: Found): string {
  const from = found.netadaptFrom;
  if (!from) return found.experiment;
  const source = readJsonFile(trainedFile(from.model, from.seed)) as Trained;
  return `${found.experiment}, then NetAdapt from ${from.model} (its seed-${from.seed} training: ${from.seedLatencyMs.toFixed(2)} ms, ${(100 * source.testTop1).toFixed(2)}% test top-1; ${from.steps} steps)`;
}

/** Every search recorded for a target (one per --label), the unlabelled one first. */
function foundRecords(target: string): Found[] {
  return readdirSync(PARTS)
    .filter((f) => f.startsWith('found-') && f.endsWith('.json') && !f.endsWith('.spec.json'))
    .map((f) => readJsonFile(path.join(PARTS, f)) as Found)
    .filter((found) => found.target === target)
    .sort((a, b) => (a.label ?? '').localeCompare(b.label ?? ''));
}

async function report(all: Target[], zoo: readonly PricedZooModel[]): Promise<void> {
  const trainings = readTrainings();
  const runsOf = (model: string) => trainings.get(model) ?? [];
  const noise = seedNoise(trainings);
  const sections: string[] = [
    '# Search against the zoo',
    '',
    `\`node dist/bench/search-vs-zoo.js\` (${new Date().toISOString().slice(0, 10)}, ${machineText()}).`,
    `Search: each found row names the experiment it ran, with the target swapped in. Recipe for every model: ${EPOCHS} epochs of the whole Fashion-MNIST training split at ${RESOLUTION}x${RESOLUTION}, the trainer's defaults otherwise, one training per seed (1 and 2 by default; each row says how many its mean has); test-split top-1. Latency: the ${table.name} table at ${experiment.latency.resolution}x${experiment.latency.resolution}, ${experiment.latency.classes} classes.`,
    ...(noise.text ? [noise.text] : []),
    '',
  ];
  const points: { x: number; y: number; group: string; label: string }[] = [];
  for (const target of all) {
    const rows: string[][] = [];
    const verdicts: string[] = [];
    const zooRuns = zooAt(target, zoo).map((z) => ({ ...z, runs: runsOf(z.model) }));
    for (const found of foundRecords(target.model)) {
      const name = findName(found);
      const by = `**found** by ${name}`;
      if (found.unreachable) {
        rows.push([`${by}: none`, '', '', '', `the search refused the target: ${found.unreachable}`]);
        continue;
      }
      const model = foundModel(target.model, found.label ?? '');
      const runs = runsOf(model);
      rows.push([
        `${by} (${found.spec})`,
        found.latencyMs.toFixed(2),
        `${(100 * (found.latencyMs / target.targetMs - 1)).toFixed(1)}%${found.withinTolerance ? '' : ' (outside +-5%)'}`,
        meanTop1Text(runs),
        `${(100 * found.inheritedTop1).toFixed(2)} (${searchScoreKind(found)}, validation)`,
      ]);
      if (runs.length) points.push({ x: found.latencyMs, y: meanTop1(runs), group: 'found', label: model });
      const judged = verdict(found, runs, zooRuns, noise.seedSd);
      if (judged) verdicts.push(`- ${name}: ${judged}.`);
    }
    const baselineRuns = baselineRecords(target.model).map((b) => ({ ...b, runs: runsOf(b.model) }));
    for (const b of baselineRuns) {
      rows.push([
        `${b.draw === 'random' ? 'random member' : 'most parameters'} of ${b.space} (${b.spec})`,
        b.latencyMs.toFixed(2),
        `${(100 * (b.latencyMs / target.targetMs - 1)).toFixed(1)}%`,
        meanTop1Text(b.runs),
        `${(b.params / 1e6).toFixed(2)} M params`,
      ]);
      if (b.runs.length) points.push({ x: b.latencyMs, y: meanTop1(b.runs), group: 'random search', label: b.model });
    }
    verdicts.push(...randomSearchLines(baselineRuns));
    for (const z of zooRuns) rows.push([z.model, z.latencyMs.toFixed(2), '', meanTop1Text(z.runs), '']);
    sections.push(
      `## Target ${target.model}: ${target.targetMs.toFixed(2)} ms`,
      '',
      markdownTable(['model', 'latency ms', 'vs target', 'mean test top-1 %', 'note'], rows),
      '',
      ...(verdicts.length ? [...verdicts, ''] : []),
    );
  }
  for (const z of zoo) {
    const runs = runsOf(z.model);
    if (runs.length) points.push({ x: z.latencyMs, y: meanTop1(runs), group: 'zoo', label: z.model });
  }
  await writeFileAtomic(path.join(PROJECT_ROOT, 'results', 'search-vs-zoo.md'), `${sections.join('\n')}\n`);
  await writeFileAtomic(
    path.join(PROJECT_ROOT, 'results', 'search-vs-zoo.svg'),
    scatterPlot(points, {
      title: 'Found and zoo models: test top-1 against predicted latency',
      xLabel: `latency on ${table.name} (ms)`,
      yLabel: 'Fashion-MNIST test top-1 (%)',
      lines: [],
    }),
  );
}

/** The found architecture of a target as a training job (none when the search refused the target). */
function foundJobs(found: Found): { model: string; spec: ArchSpec }[] {
  return found.unreachable ? [] : [{ model: foundModel(found.target), spec: readArchSpec(path.join(PROJECT_ROOT, found.spec)) }];
}

/** The zoo models a target's find is compared with: within the tolerance of the target or below it. */
function zooAt(target: Target, zoo: readonly PricedZooModel[]): PricedZooModel[] {
  return zoo.filter((z) => z.latencyMs <= target.targetMs * (1 + TOLERANCE));
}

/** Every zoo model a target's find is compared with, as training jobs. */
function zooJobs(target: Target, zoo: readonly PricedZooModel[]): { model: string; spec: ArchSpec }[] {
  if (NO_ZOO) return [];
  return zooAt(target, zoo).map((z) => ({ model: z.model, spec: zooSpec(z.model, { resolution: RESOLUTION, classes: 10 }) }));
}

const spaceName = path.basename(experiment.space, '.json');
const baselineFile = (model: string) => path.join(PARTS, `${model}.json`);

/**
 * Random search's members at a target (--random, --most-params): drawn once from the experiment's
 * seed and the target, recorded with their specs under results/search-vs-zoo/, read back after that.
 */
async function baselines(target: Target): Promise<Baseline[]> {
  const wanted = [
    ...Array.from({ length: RANDOM_MEMBERS }, (_, k) => `random-${spaceName}-${target.model}-${k + 1}`),
    ...(MOST_PARAMS ? [`most-params-${spaceName}-${target.model}`] : []),
  ];
  const missing = !wanted.every((model) => existsSync(baselineFile(model)));
  for (const baseline of missing ? drawBaselines(target) : []) {
    if (existsSync(baselineFile(baseline.model))) continue;
    const { spec, ...record } = baseline;
    await writeJsonAtomic(path.join(PROJECT_ROOT, spec.file), spec.archSpec);
    await writeJsonAtomic(baselineFile(baseline.model), { schemaVersion: 1, kind: 'search-vs-zoo-baseline', ...record, spec: spec.file });
  }
  return wanted.filter((model) => existsSync(baselineFile(model))).map((model) => readJsonFile(baselineFile(model)) as Baseline);
}

type DrawnBaseline = Omit<Baseline, 'spec'> & { spec: { file: string; archSpec: ArchSpec } };

/** Draws the in-band members (the first --random of them, and the one with the most parameters of MOST_PARAMS_POOL). */
function drawBaselines(target: Target): DrawnBaseline[] {
  const space = getChoiceSpace(experiment.space);
  const { resolution, classes } = experiment.latency;
  const completed = withEstimatedSpaceKeys(space, table, resolution, classes).table;
  const priceMs = (choices: readonly number[]) =>
    deployedLatencyMs(space.materialise(choices, { resolution }), completed, experiment.latency);
  const count = Math.max(RANDOM_MEMBERS, MOST_PARAMS ? MOST_PARAMS_POOL : 0);
  const members = membersNear(
    space,
    priceMs,
    { targetMs: target.targetMs, tolerance: BASELINE_BAND },
    count,
    derive(experiment.seed, 'random-baseline', target.model),
  );
  if (members.length < count)
    process.stderr.write(
      `random search at ${target.model}: only ${members.length} of the ${count} members wanted lie within ${100 * BASELINE_BAND}% of ${target.targetMs.toFixed(2)} ms in space ${space.name} (200,000 uniform draws)\n`,
    );
  const described = (member: PricedMember, draw: Baseline['draw'], model: string, how: string): DrawnBaseline => {
    const archSpec = space.materialise(member.choices, {
      resolution: RESOLUTION,
      classes: 10,
      name: model,
      command: `node dist/bench/search-vs-zoo.js --experiment ${path.relative(PROJECT_ROOT, EXPERIMENT)} --targets ${target.model} ${draw === 'random' ? `--random ${RANDOM_MEMBERS}` : '--most-params'}`,
      seed: experiment.seed,
    });
    archSpec.provenance = { ...archSpec.provenance, source: `space ${space.name}: ${how}`, deployment: { resolution, classes } };
    const file = path.relative(PROJECT_ROOT, path.join(PARTS, `${model}.spec.json`));
    return {
      model,
      draw,
      space: space.name,
      target: target.model,
      choices: member.choices,
      latencyMs: member.latencyMs,
      params: specCost(archSpec).params,
      spec: { file, archSpec },
    };
  };
  const band = `within ${100 * BASELINE_BAND}% of ${target.targetMs.toFixed(2)} ms`;
  const random = members
    .slice(0, RANDOM_MEMBERS)
    .map((m, k) => described(m, 'random', `random-${spaceName}-${target.model}-${k + 1}`, `uniform draw ${k + 1} ${band}`));
  if (!MOST_PARAMS || members.length === 0) return random;
  const params = members.map((m) => specCost(space.materialise(m.choices, { resolution: RESOLUTION, classes: 10 })).params);
  const most = members[params.indexOf(Math.max(...params))]!;
  return [
    ...random,
    described(
      most,
      'most-params',
      `most-params-${spaceName}-${target.model}`,
      `the most parameters among ${members.length} uniform draws ${band}`,
    ),
  ];
}

/** A target's baselines as training jobs. */
async function baselineJobs(target: Target): Promise<{ model: string; spec: ArchSpec }[]> {
  return (await baselines(target)).map((b) => ({ model: b.model, spec: readArchSpec(path.join(PROJECT_ROOT, b.spec)) }));
}

/** Every baseline recorded for a target, of any space (random members first). */
function baselineRecords(target: string): Baseline[] {
  return readdirSync(PARTS)
    .filter((f) => (f.startsWith('random-') || f.startsWith('most-params-')) && f.endsWith('.json') && !f.endsWith('.spec.json'))
    .map((f) => readJsonFile(path.join(PARTS, f)) as Baseline)
    .filter((b) => b.target === target)
    .sort((a, b) => b.draw.localeCompare(a.draw) || a.model.localeCompare(b.model, undefined, { numeric: true }));
}

/** The found record, once the process that searches or runs NetAdapt (not this one, with --no-search) has written it. */
async function awaitFound(target: Target): Promise<Found> {
  const file = foundFile(target.model);
  while (!existsSync(file)) {
    process.stderr.write(`waiting for the find for ${target.model} (${file}): the other process searches or runs NetAdapt\n`);
    await pause(`the find for ${target.model}`);
  }
  return readJsonFile(file) as Found;
}

/** A minute's wait for another process; a signal ends it as an interruption. */
async function pause(waitingFor: string): Promise<void> {
  await sleep(60_000, undefined, { signal: INTERRUPT }).catch(() => {
    throw new InterruptedError(`stopped while waiting for ${waitingFor}`);
  });
}

/** One target at a time (search, then both seeds of each of its models), so a target's comparison completes before the next one starts. */
async function main(): Promise<void> {
  mkdirSync(PARTS, { recursive: true });
  const all = targets();
  const reported = targets([...new Set([...ISSUE_TARGETS, ...TARGET_MODELS])]);
  const zoo = zooLatencies(table, experiment.latency);
  let trainings = 0;
  let dataset: ReturnType<typeof loadDataset> | undefined;
  /** Trains the jobs' seeds not recorded yet; false once --max-trainings is reached. */
  const trainAll = async (jobs: { model: string; spec: ArchSpec }[]): Promise<boolean> => {
    for (const job of jobs) {
      if (ONLY_MODELS.size > 0 && !ONLY_MODELS.has(job.model)) continue;
      for (const seed of SEEDS) {
        if (existsSync(trainedFile(job.model, seed))) continue;
        if (trainings >= MAX_TRAININGS) return false;
        if (!dataset) {
          await prepareBackend('auto');
          dataset = loadDataset('fashion-mnist', RESOLUTION);
        }
        const trained = await trainOnce(job.model, job.spec, seed, dataset).catch((err) => {
          if (!(err instanceof RunDirInUseError)) throw err;
          process.stderr.write(`skipping ${job.model} seed ${seed}: ${err.message}\n`);
          return null;
        });
        if (!trained) continue;
        trainings++;
        await report(reported, zoo);
      }
    }
    return true;
  };
  if (!REPORT_ONLY) {
    for (const target of all) {
      const done = NO_SEARCH
        ? (await trainAll(zooJobs(target, zoo))) &&
          trainings < MAX_TRAININGS &&
          (await trainAll(foundJobs(await awaitFound(target)))) &&
          (await trainAll(await baselineJobs(target)))
        : (await trainAll([...foundJobs(await (NETADAPT_FROM ? shrink : search)(target)), ...zooJobs(target, zoo)])) &&
          (await trainAll(await baselineJobs(target)));
      if (!done) break;
    }
  }
  await report(reported, zoo);
}

try {
  await main();
} catch (error) {
  if (!(error instanceof InterruptedError)) throw error;
  process.stderr.write(
    `search-vs-zoo: ${error.message}\nfinished searches and trainings are kept in ${path.relative(PROJECT_ROOT, PARTS)}/; run the same command again to continue\n`,
  );
  process.exit(interruptExitCode());
}
