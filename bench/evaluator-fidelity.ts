/**
 * Evaluator fidelity: does an evaluator rank architectures as standalone training does?
 *
 * N random members of a space (default 20 of `mobilenetv3`) are each
 *   - trained standalone with one recipe (default: 3 epochs of 10,000 Fashion-MNIST images at
 *     32x32, seed 1) and scored on the test split: the reference ranking;
 *   - scored by the proxy evaluator at its default budget (bench/experiments/proxy-default.json: one short training each);
 *   - scored by one trained supernet (the supernet experiment's run) with inherited weights.
 * Kendall's tau between the reference and each evaluator, and the CPU-seconds each spent, go to
 * results/fidelity.md. Every finished part is a JSON file under results/fidelity/<space>/ and is skipped
 * when the bench runs again, so the bench continues where it stopped (on another machine too,
 * except a supernet run, which lives in --runs: lost before its training record is written, it is
 * trained again; lost after, the members it has not scored wait until that record is deleted).
 * A standalone training checkpoints in --runs/<kind>/member-NN: stopped (Ctrl-C, kill -9), it
 * resumes there on the same machine and starts over on another.
 *
 *   node dist/bench/evaluator-fidelity.js [--members 20] [--space mobilenetv3] [--supernet-experiment experiments/supernet.json]
 *       [--variant NAME] [--runs runs/fidelity/<space>] [--only standalone|proxy|supernet] [--shard K/N]
 *
 * `--repeat-seed N --members-limit K` trains the first K members again with training seed N
 * (parts in standalone-seedN/): the tau between two trainings of the same architectures is the
 * most any evaluator can reach against one of them (the reference's own noise).
 *
 * `--recipe full5` trains the members (the first K with --members-limit) with search-vs-zoo's recipe
 * instead, 5 epochs of the whole training split (parts in standalone-full5/, about 8x the default
 * recipe's CPU): the report ranks every evaluator against it too, as the order of trained models a
 * search is judged by. `--repeat-seed` combines with it (standalone-full5-seedN/).
 *
 * `--finetune-steps N` (with the supernet) also scores each member after N steps of fine-tuning its
 * inherited weights (parts in supernet[-NAME]-ftN/): the supernet as a warm start, not an oracle.
 *
 * `--variant NAME` scores another supernet (another experiment, or the same after a change to the
 * supernet) beside the first: its parts go to supernet-NAME/ and the report has a row per variant.
 * A variant `NAME-seedN` (NAME's experiment with another seed) is another training of NAME: the
 * report adds each member's mean over the trainings, and the pooled section how well they agree.
 *
 * `--shard K/N` scores only the members whose index is K modulo N: N processes started with 0/N ..
 * N-1/N share the work (one per core) and write the same parts.
 *
 * `--member-set NAME` draws N other members (parts in results/fidelity/<space>/set-NAME/, runs in
 * --runs/set-NAME, a report section of its own): a held-out set for a question the first set raised.
 * A supernet variant the first set has trained on this machine scores them with the same run (its
 * training does not depend on the members); otherwise it is trained for this set.
 * Every "proxy + <supernet> (rank sum)" row ranks members by the sum of their ranks under the proxy and
 * under that supernet, and costs both evaluators' CPU time.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { formatDuration, interruptExitCode, interruptSignal, ProgressReporter, trainingFraction } from '../src/cli/progress.js';
import { InterruptedError } from '../src/common/errors.js';
import { markdownTable } from '../src/common/format.js';
import { readJsonFile, writeJsonAtomic } from '../src/common/json-io.js';
import { createLogger } from '../src/common/log.js';
import { averageRanks, kendallTauB, tauBootstrapInterval } from '../src/common/rank-correlation.js';
import { derive } from '../src/common/rng.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { readExperiment } from '../src/controller/experiment.js';
import { proxyTrainConfig } from '../src/controller/setup.js';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { specCost } from '../src/search-space/cost.js';
import { resolve } from '../src/search-space/resolve.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { finetuneConfig } from '../src/supernet/finetune.js';
import { supernetSettings } from '../src/supernet/settings.js';
import { SupernetRunDir } from '../src/supernet/supernet-run.js';
import { openTrainedSupernet } from '../src/supernet/trained.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { trainConfig } from '../src/trainer/config.js';
import { loadDataset } from '../src/trainer/data/index.js';
import { type TrainProgress, train } from '../src/trainer/train.js';
import { TrainRunDir } from '../src/trainer/train-run.js';
import { trainForEvaluation } from '../src/trainer/training-pool.js';
import { badArgument, benchArguments, lastJsonLine, machineText, numberArgument, runNasJsonTimed, writeSection } from './report.js';

const args = benchArguments({
  members: '20',
  space: 'mobilenetv3',
  runs: '',
  'supernet-experiment': path.join(PROJECT_ROOT, 'experiments', 'supernet.json'),
  only: 'all',
  variant: '',
  'repeat-seed': '',
  'members-limit': '1000',
  'finetune-steps': '0',
  'member-set': '',
  shard: '0/1',
  recipe: 'short',
});
const MEMBERS = numberArgument(args, 'members');
const SPACE = args.space;
const MEMBER_SET = args['member-set'];
const SET_DIR = MEMBER_SET ? `set-${MEMBER_SET}` : '';
const PARTS = path.join(PROJECT_ROOT, 'results', 'fidelity', SPACE, SET_DIR);
const RUNS = path.join(args.runs || path.join(PROJECT_ROOT, 'runs', 'fidelity', SPACE), SET_DIR);
const SUPERNET_EXPERIMENT = args['supernet-experiment'];
const ONLY = args.only;
const VARIANT = args.variant;
/** The part directory (and run directory) of the supernet being scored: `supernet` or `supernet-<variant>`. */
const SUPERNET_KIND = VARIANT ? `supernet-${VARIANT}` : 'supernet';
const FIDELITY_MD = path.join(PROJECT_ROOT, 'results', 'fidelity.md');
const LOG = createLogger();
/** Ctrl-C stops a standalone training at its current step, its checkpoint kept for the next run. */
const INTERRUPT = ONLY === 'report' ? new AbortController().signal : interruptSignal(LOG);
/** Seconds between a standalone training's progress lines when stderr is no terminal (a log file). */
const PROGRESS_LOG_SECONDS = 60;
/** Standalone recipes: the reference's (`short`), and search-vs-zoo's, for a second reference (`--recipe full5`). */
const RECIPES = {
  short: { epochs: 3, trainSamples: 10_000, text: '3 epochs of 10000 Fashion-MNIST images' },
  full5: { epochs: 5, trainSamples: undefined, text: '5 epochs of the whole Fashion-MNIST training split' },
} as const;
/** The reference's training seed (`--repeat-seed` trains with another). */
const REFERENCE_SEED = 1;
const RECIPE_NAME = args.recipe;
if (!(RECIPE_NAME in RECIPES)) badArgument(`--recipe is one of ${Object.keys(RECIPES).join(', ')}, got '${RECIPE_NAME}'`);
const REPEAT_SEED = args['repeat-seed'];
const MEMBERS_LIMIT = numberArgument(args, 'members-limit');
/** `--shard K/N`: this process scores only the members whose index is K modulo N (N processes, one per core). */
const SHARD = shardArgument(args.shard);
const RESOLUTION = 32;
/** With --only supernet: also score each member after this many steps of fine-tuning its inherited weights (0: not). */
const FINETUNE_STEPS = numberArgument(args, 'finetune-steps');
const FINETUNE_KIND = `${SUPERNET_KIND}-ft${FINETUNE_STEPS}`;

interface Part {
  member: number;
  choices: number[];
  accuracy: number;
  cpuSeconds: number;
  /** Standalone runs: validation top-1 beside the test top-1. */
  valTop1?: number;
  /**
   * A standalone training resumed from its checkpoint: the training seconds its checkpoint held,
   * counted in cpuSeconds (wall seconds: a training's CPU when it had a core to itself, an
   * overcount when it shared one).
   */
  resumedAfterSeconds?: number;
}

/** CPU seconds (user + system) of this process while `work` runs. */
async function cpuSecondsOf<T>(work: () => Promise<T>): Promise<{ value: T; cpuSeconds: number }> {
  const before = process.cpuUsage();
  const value = await work();
  const used = process.cpuUsage(before);
  return { value, cpuSeconds: (used.user + used.system) / 1e6 };
}

async function members(): Promise<number[][]> {
  const file = path.join(PARTS, 'members.json');
  if (existsSync(file)) return (readJsonFile(file) as { members: number[][] }).members;
  const space = getChoiceSpace(SPACE);
  const rng = derive(2026, MEMBER_SET ? `fidelity-members-${MEMBER_SET}` : 'fidelity-members');
  const drawn = Array.from({ length: MEMBERS }, () => space.randomChoices(rng));
  const set = MEMBER_SET ? { set: MEMBER_SET } : {};
  await writeJsonAtomic(file, { schemaVersion: 1, kind: 'fidelity-members', space: SPACE, ...set, seed: 2026, members: drawn });
  return drawn;
}

function shardArgument(text: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const [index, count] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || index >= count) badArgument(`--shard expects K/N with 0 <= K < N (e.g. 0/2 and 1/2 for two processes), got '${text}'`);
  return { index, count };
}

function specOf(choices: number[], i: number): ArchSpec {
  return getChoiceSpace(SPACE).materialise(choices, { resolution: RESOLUTION, classes: 10, name: `fidelity-member${i}` });
}

/** A member's name in part and run directories: `member-07`. */
const memberName = (member: number) => `member-${String(member).padStart(2, '0')}`;
const partFile = (kind: string, member: number, parts = PARTS) => path.join(parts, kind, `${memberName(member)}.json`);

/** Runs `score` for every member whose part file is missing, writing each part as it finishes. */
async function eachMissing(kind: string, all: number[][], score: (spec: ArchSpec, i: number) => Promise<Omit<Part, 'member' | 'choices'>>) {
  mkdirSync(path.join(PARTS, kind), { recursive: true });
  for (const [i, choices] of all.entries()) {
    const file = partFile(kind, i);
    if (i % SHARD.count !== SHARD.index || existsSync(file)) continue;
    const part = await score(specOf(choices, i), i);
    await writeJsonAtomic(file, {
      schemaVersion: 1,
      kind: `fidelity-${kind}`,
      member: i,
      choices,
      ...part,
      date: new Date().toISOString(),
    });
    process.stderr.write(`${kind} member ${i}: ${(100 * part.accuracy).toFixed(2)}% (${part.cpuSeconds.toFixed(0)} CPU-s)\n`);
  }
}

function readParts(kind: string, count: number, parts = PARTS): (Part | null)[] {
  return Array.from({ length: count }, (_, i) => {
    const file = partFile(kind, i, parts);
    return existsSync(file) ? (readJsonFile(file) as Part) : null;
  });
}

async function standalone(all: number[][]): Promise<void> {
  const dataset = loadDataset('fashion-mnist', RESOLUTION);
  const seed = REPEAT_SEED ? Number(REPEAT_SEED) : REFERENCE_SEED;
  const { epochs, trainSamples } = RECIPES[RECIPE_NAME as keyof typeof RECIPES];
  const config = trainConfig({ epochs, trainSamples, seed }, 'fidelity recipe');
  const kind = ['standalone', ...(RECIPE_NAME === 'short' ? [] : [RECIPE_NAME]), ...(REPEAT_SEED ? [`seed${seed}`] : [])].join('-');
  await eachMissing(kind, all.slice(0, MEMBERS_LIMIT), async (spec, i) => {
    const outDir = path.join(RUNS, kind, memberName(i));
    const resume = existsSync(path.join(outDir, 'checkpoint'));
    const earlierSeconds = resume ? new TrainRunDir(outDir).readCheckpoint().state.trainSeconds : 0;
    const progress = new ProgressReporter(LOG, PROGRESS_LOG_SECONDS);
    const onProgress = (p: TrainProgress) =>
      progress.update({
        fraction: trainingFraction(p),
        text: `${kind} member ${i}: epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(3)} ETA ${formatDuration(p.etaSeconds)}`,
      });
    const { value, cpuSeconds } = await cpuSecondsOf(() =>
      train({ spec, dataset, config, outDir, resume, evaluateTest: true, signal: INTERRUPT, onProgress })
        .catch((err) => {
          if (err instanceof InterruptedError)
            throw new InterruptedError(`the ${kind} training of member ${i} stopped; its checkpoint is in ${outDir}`, { cause: err });
          throw err;
        })
        .finally(() => progress.done()),
    );
    return {
      accuracy: value.top1!,
      cpuSeconds: cpuSeconds + earlierSeconds,
      valTop1: value.valTop1,
      ...(resume ? { resumedAfterSeconds: earlierSeconds } : {}),
    };
  });
}

async function proxy(all: number[][]): Promise<void> {
  // The proxy evaluator as the embedded default ran it until the default became the supernet.
  const experiment = readExperiment(path.join(PROJECT_ROOT, 'bench', 'experiments', 'proxy-default.json'));
  const dataset = loadDataset(experiment.proxy.dataset, experiment.proxy.resolution);
  const config = proxyTrainConfig(experiment);
  await eachMissing('proxy', all, async (spec) => {
    const { value, cpuSeconds } = await cpuSecondsOf(() => trainForEvaluation(dataset, spec, config, {}));
    return { accuracy: value.accuracy, cpuSeconds };
  });
}

/**
 * Trains (or finishes) the supernet run in a child process, records its CPU time, then scores every
 * member. Another member set reuses the first set's trained run of the same variant when it is on
 * this machine: a supernet's training does not depend on the members it later scores.
 */
async function supernet(all: number[][]): Promise<void> {
  const trainingFile = path.join(PARTS, `${SUPERNET_KIND}-training.json`);
  if (!existsSync(trainingFile) && MEMBER_SET) await reuseFirstSetRun(trainingFile);
  const runDir = supernetRunDir(trainingFile);
  if (!existsSync(trainingFile)) {
    if (SHARD.count > 1)
      badArgument(
        `--shard splits the members' scoring, not ${SUPERNET_KIND}'s one training: run --only ${SUPERNET_KIND} without --shard first`,
      );
    const experimentSpace = readExperiment(SUPERNET_EXPERIMENT).space;
    if (experimentSpace !== SPACE)
      throw new Error(`${SUPERNET_EXPERIMENT} searches space ${experimentSpace}, the members are of ${SPACE}: pass --supernet-experiment`);
    const resume = new SupernetRunDir(runDir).isRun();
    const args = resume ? ['--resume', runDir] : ['--experiment', SUPERNET_EXPERIMENT, '--out', runDir];
    const started = Date.now();
    const { child, cpuSeconds } = runNasJsonTimed('search', args);
    if (child.status === 130 || child.status === 143)
      throw new InterruptedError(`the training of ${SUPERNET_KIND} stopped; its checkpoint is in ${runDir}`);
    if (child.status !== 0) throw new Error(`nas search ${args.join(' ')} exited with ${child.status} (its messages are above)`);
    await writeJsonAtomic(trainingFile, {
      schemaVersion: 1,
      kind: 'fidelity-supernet-training',
      experiment: SUPERNET_EXPERIMENT,
      cpuSeconds,
      wallSeconds: (Date.now() - started) / 1000,
      resumed: resume,
      summary: lastJsonLine(child.stdout),
    });
  }
  if (all.every((_, i) => existsSync(partFile(SUPERNET_KIND, i)))) return;
  if (!new SupernetRunDir(runDir).isRun())
    throw new Error(
      `${runDir} is gone (another machine?) and ${SUPERNET_KIND} has members to score: delete ${trainingFile} to train it again`,
    );
  const trained = openTrainedSupernet(runDir);
  try {
    await eachMissing(SUPERNET_KIND, all, async (_spec, i) => {
      const { value, cpuSeconds } = await cpuSecondsOf(async () => trained.evaluate(all[i]!));
      return { accuracy: value.accuracy, cpuSeconds };
    });
  } finally {
    trained.dispose();
  }
}

/** Where this set's supernet run is: the first set's when this set's record reuses it, else under --runs. */
function supernetRunDir(trainingFile: string): string {
  const recorded = existsSync(trainingFile) ? (readJsonFile(trainingFile) as SupernetTraining).runDir : undefined;
  return recorded ?? path.join(RUNS, SUPERNET_KIND);
}

/**
 * Records the first member set's run of this variant as this set's supernet, when it has trained
 * from the same experiment and its directory is here; its CPU time is counted once, in the first set.
 */
async function reuseFirstSetRun(trainingFile: string): Promise<void> {
  const firstSetFile = path.join(path.dirname(PARTS), `${SUPERNET_KIND}-training.json`);
  if (!existsSync(firstSetFile)) return;
  const first = readJsonFile(firstSetFile) as SupernetTraining;
  if (path.resolve(PROJECT_ROOT, first.experiment) !== path.resolve(PROJECT_ROOT, SUPERNET_EXPERIMENT))
    badArgument(
      `${SUPERNET_KIND} of the first member set trained ${first.experiment}, not ${SUPERNET_EXPERIMENT}: pass that experiment, or another --variant`,
    );
  const runDir = first.runDir ?? path.join(path.dirname(RUNS), SUPERNET_KIND);
  if (!new SupernetRunDir(runDir).isRun()) return;
  await writeJsonAtomic(trainingFile, {
    ...first,
    runDir,
    note: "the first set's run of this experiment, reused (a supernet's training does not depend on the members it later scores); its CPU is the first set's, counted once",
  });
}

/**
 * Scores every member after a short fine-tune of its inherited weights (batch norm recalibrated
 * first), as a search with `supernet.finetuneSteps` scores its top candidates: one pass of
 * FINETUNE_STEPS batches of 32, no warm-up or augmentation; validation top-1 on the images the
 * supernet ranks on.
 */
async function finetunedSupernet(all: number[][]): Promise<void> {
  const runDir = supernetRunDir(path.join(PARTS, `${SUPERNET_KIND}-training.json`));
  const dataset = loadDataset('fashion-mnist', RESOLUTION);
  const experiment = readExperiment(SUPERNET_EXPERIMENT);
  // What a search with supernet.finetuneSteps does to its top candidates (src/supernet/finetune.ts).
  const config = finetuneConfig(experiment, { ...supernetSettings(experiment.supernet), finetuneSteps: FINETUNE_STEPS });
  const trained = openTrainedSupernet(runDir);
  try {
    await eachMissing(FINETUNE_KIND, all, async (_spec, i) => {
      // Under this set's runs: another set may score the same supernet run.
      const checkpoint = path.join(RUNS, FINETUNE_KIND, memberName(i));
      const { value, cpuSeconds } = await cpuSecondsOf(async () => {
        const spec = await trained.writeMemberCheckpoint(all[i]!, checkpoint);
        return trainForEvaluation(dataset, spec, config, { inheritFrom: { spec, checkpoint } });
      });
      if (value.error) throw new Error(`member ${i}: the fine-tune failed: ${value.error}`);
      return { accuracy: value.accuracy, cpuSeconds };
    });
  } finally {
    trained.dispose();
  }
}

/** The evaluators with parts on disk: the proxy, every supernet (`supernet`, `supernet-<variant>`), repeated standalone trainings. */
function evaluatorKinds(parts = PARTS): string[] {
  const supernets = readdirSync(parts, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^(supernet(-|$)|standalone-)/.test(e.name))
    .map((e) => e.name)
    .sort();
  return ['proxy', ...supernets];
}

interface SupernetTraining {
  experiment: string;
  cpuSeconds: number;
  wallSeconds: number;
  /** Another set's record of the first set's run: where that run is (default: this set's --runs). */
  runDir?: string;
  /** Set by hand on parts from an older state of the code (what the supernet lacked then). */
  note?: string;
}

/** A fine-tuned kind `<supernet>-ft<N>` (FINETUNE_KIND's form): its supernet's kind and N; null for any other kind. */
function finetunedKind(kind: string): { supernet: string; steps: number } | null {
  const match = /-ft(\d+)$/.exec(kind);
  return match ? { supernet: kind.slice(0, match.index), steps: Number(match[1]) } : null;
}

/** The supernet's training record (a fine-tuned kind has its supernet's). */
function supernetTraining(kind: string, parts = PARTS): SupernetTraining | null {
  const file = path.join(parts, `${finetunedKind(kind)?.supernet ?? kind}-training.json`);
  return existsSync(file) ? (readJsonFile(file) as SupernetTraining) : null;
}

/** An evaluator's scores of the members (null: not scored); a rank-sum evaluator's carry its supernet's training. */
interface Evaluator {
  kind: string;
  parts: (Part | null)[];
  training?: SupernetTraining | null;
}

/**
 * The proxy and a supernet together: each member both scored gets the sum of its ranks under the
 * two (its `accuracy` here is that sum: only the order counts) and the CPU time both spent on it.
 */
function rankSum(proxy: Evaluator, supernet: Evaluator): Evaluator {
  const both = proxy.parts.flatMap((p, i) => (p && supernet.parts[i] ? [i] : []));
  const ranks = [proxy, supernet].map((e) => averageRanks(both.map((i) => e.parts[i]!.accuracy)));
  const parts: (Part | null)[] = proxy.parts.map(() => null);
  both.forEach((i, k) => {
    const cpuSeconds = proxy.parts[i]!.cpuSeconds + supernet.parts[i]!.cpuSeconds;
    parts[i] = { member: i, choices: proxy.parts[i]!.choices, accuracy: ranks[0]![k]! + ranks[1]![k]!, cpuSeconds };
  });
  return { kind: `proxy + ${supernet.kind} (rank sum)`, parts, training: supernet.training };
}

/**
 * Rankings read off each member's spec, training nothing: fewer units (blocks, stem and head) first,
 * and more parameters first. The tau they reach is the part of the reference's order that costs
 * nothing to predict.
 */
function zeroCostRankings(members: number[][]): Evaluator[] {
  const specs = members.map((choices, i) => specOf(choices, i));
  const ranking = (kind: string, score: (spec: ArchSpec) => number): Evaluator => ({
    kind,
    parts: specs.map((spec, i) => ({ member: i, choices: members[i]!, accuracy: score(spec), cpuSeconds: 0 })),
  });
  return [
    ranking('fewer units (zero-cost)', (spec) => -resolve(spec).units.length),
    ranking('more parameters (zero-cost)', (spec) => specCost(spec).params),
  ];
}

/** One member set's scores: its reference, the evaluators with parts, and everything ranked against the reference. */
interface SetScores {
  members: number[][];
  reference: (Part | null)[];
  evaluators: Evaluator[];
  /** The evaluators, the proxy's rank sums with each supernet, and the zero-cost rankings. */
  scored: Evaluator[];
}

function readSetScores(parts: string): SetScores {
  const { members } = readJsonFile(path.join(parts, 'members.json')) as { members: number[][] };
  const reference = readParts('standalone', members.length, parts);
  const evaluators: Evaluator[] = evaluatorKinds(parts).map((kind) => ({
    kind,
    parts: readParts(kind, members.length, parts),
    training: supernetTraining(kind, parts),
  }));
  const proxyScores = evaluators.find((e) => e.kind === 'proxy')!;
  const seedMeans = [...supernetTrainings(evaluators)].map(([key, trainings]) => meanOverTrainings(key, trainings));
  const rankSums = [...evaluators, ...seedMeans].filter((e) => e.kind.startsWith('supernet')).map((e) => rankSum(proxyScores, e));
  return { members, reference, evaluators, scored: [...evaluators, ...seedMeans, ...rankSums, ...zeroCostRankings(members)] };
}

/**
 * Trainings of one supernet evaluator: `<kind>` (its experiment's seed, 0 in the bench's experiments)
 * and `<kind>-seedN` (the experiment with seed N), fine-tuned kinds `<kind>-seedN-ftM` grouped as
 * `<kind>-ftM`. Keyed by the kind without its seed; only groups of two or more trainings.
 */
function supernetTrainings(evaluators: Evaluator[]): Map<string, Map<number, Evaluator>> {
  const groups = new Map<string, Map<number, Evaluator>>();
  for (const evaluator of evaluators.filter((e) => e.kind.startsWith('supernet'))) {
    const match = /-seed(\d+)(?=(-ft\d+)?$)/.exec(evaluator.kind);
    const key = match ? evaluator.kind.slice(0, match.index) + evaluator.kind.slice(match.index + match[0].length) : evaluator.kind;
    if (!groups.has(key)) groups.set(key, new Map());
    groups.get(key)!.set(match ? Number(match[1]) : 0, evaluator);
  }
  return new Map([...groups].filter(([, trainings]) => trainings.size > 1));
}

const isMeanOverSeeds = (kind: string) => /\(mean of seeds [\d, ]+\)$/.test(kind);

/**
 * A supernet scored by several trainings of it (by seed): each member's mean score over them
 * (members one of them has not scored are left out), the CPU time of all of them.
 */
function meanOverTrainings(key: string, trainings: Map<number, Evaluator>): Evaluator {
  const seeds = [...trainings.keys()].sort((a, b) => a - b);
  const scorers = seeds.map((seed) => trainings.get(seed)!);
  const parts = scorers[0]!.parts.map((part, i) => {
    const scores = scorers.map((e) => e.parts[i] ?? null);
    if (!part || scores.some((p) => !p)) return null;
    const sum = (field: 'accuracy' | 'cpuSeconds') => scores.reduce((total, p) => total + p![field], 0);
    return { ...part, accuracy: sum('accuracy') / scores.length, cpuSeconds: sum('cpuSeconds') };
  });
  const records = scorers.map((e) => e.training ?? null);
  const training = records.every(Boolean)
    ? {
        experiment: records[0]!.experiment,
        cpuSeconds: records.reduce((total, r) => total + r!.cpuSeconds, 0),
        wallSeconds: records.reduce((total, r) => total + r!.wallSeconds, 0),
      }
    : null;
  return { kind: `${key} (mean of seeds ${seeds.join(', ')})`, parts, training };
}

/** (reference, evaluator) score pairs of the members both scored. */
function pairedWithReference(parts: (Part | null)[], reference: (Part | null)[]): (readonly [number, number])[] {
  return reference.flatMap((r, i) => (r && parts[i] ? [[r.accuracy, parts[i]!.accuracy] as const] : []));
}

/** Kendall's tau of an evaluator against the reference over the members both scored, and its CPU time. */
function fidelityOf({ kind, parts, training }: Evaluator, reference: (Part | null)[]) {
  const paired = pairedWithReference(parts, reference);
  const scoring = parts.reduce((s, p) => s + (p?.cpuSeconds ?? 0), 0);
  return {
    kind,
    pairs: paired.length,
    tau: kendallTauB(
      paired.map((p) => p[0]),
      paired.map((p) => p[1]),
    ),
    cpu: training
      ? `${(scoring + training.cpuSeconds).toFixed(0)} (training ${training.cpuSeconds.toFixed(0)}, scoring ${scoring.toFixed(0)})`
      : scoring.toFixed(0),
  };
}

/** A tau for the report: none before two members have both scores (a set whose standalone trainings are still to come). */
const tauText = (f: { tau: number; pairs: number }) => (f.pairs < 2 ? '-' : f.tau.toFixed(3));

/**
 * The reference averaged over every standalone training seed, for the members trained with all of
 * them (null when no seed was repeated): less of the reference's own noise.
 */
function seedMeanReference(reference: (Part | null)[], evaluators: Evaluator[]): (Part | null)[] | null {
  const repeats = evaluators.filter((e) => e.kind.startsWith('standalone-seed'));
  if (!repeats.length) return null;
  return reference.map((r, i) => {
    const trainings = [r, ...repeats.map((e) => e.parts[i] ?? null)];
    if (trainings.some((p) => !p)) return null;
    return { ...r!, accuracy: trainings.reduce((sum, p) => sum + p!.accuracy, 0) / trainings.length };
  });
}

/** Each standalone training with another recipe (`standalone-full5`), a reference of its own. */
const otherRecipes = (evaluators: Evaluator[]) => evaluators.filter((e) => isOtherRecipe(e.kind));

/** `standalone-<recipe>` without a seed: a reference with another recipe. */
const isOtherRecipe = (kind: string) => /^standalone-(?!seed)[a-z0-9]+$/.test(kind);

function supernetDescriptions(kinds: string[]): string[] {
  return kinds.flatMap((kind) => {
    const training = supernetTraining(kind);
    if (!training) return [];
    const finetune = finetunedKind(kind);
    if (finetune)
      return [
        `- \`${kind}\`: ${finetune.supernet}'s inherited weights, each member fine-tuned for ${finetune.steps} steps of 32 images before it is scored (as \`supernet.finetuneSteps: ${finetune.steps}\` does: SGD, learning rate 0.01, no augmentation).`,
      ];
    const experiment = path.relative(PROJECT_ROOT, training.experiment);
    return [
      `- \`${kind}\`: ${experiment} trained once (${training.wallSeconds.toFixed(0)} s wall)${training.note ? `; ${training.note}` : ''}.`,
    ];
  });
}

async function report(all: number[][]): Promise<void> {
  const current = readSetScores(PARTS);
  const { reference, evaluators, scored } = current;
  const rows = all.map((choices, i) => [
    String(i),
    choices.join(''),
    reference[i] ? (100 * reference[i]!.accuracy).toFixed(2) : '-',
    ...evaluators.map((e) => (e.parts[i] ? (100 * e.parts[i]!.accuracy).toFixed(2) : '-')),
  ]);
  const fidelities = scored.map((e) => fidelityOf(e, reference));
  const seedMean = seedMeanReference(reference, evaluators);
  const vsSeedMean = (evaluator: Evaluator): string[] => {
    if (!seedMean) return [];
    if (evaluator.kind.startsWith('standalone')) return ['-'];
    const f = fidelityOf(evaluator, seedMean);
    return [`${tauText(f)} (${f.pairs})`];
  };
  const others = otherRecipes(evaluators);
  const standaloneCpu = reference.reduce((s, p) => s + (p?.cpuSeconds ?? 0), 0);
  const section = [
    `## Evaluator fidelity: the ${SPACE} space${MEMBER_SET ? `, member set ${MEMBER_SET}` : ''}`,
    '',
    `\`node dist/bench/evaluator-fidelity.js\` (${new Date().toISOString().slice(0, 10)}, ${machineText()}).`,
    `${all.length} random members of the \`${SPACE}\` space (${path.relative(PROJECT_ROOT, path.join(PARTS, 'members.json'))}${MEMBER_SET ? `, drawn apart from the first set's, scored by the first set's trained supernets where they were on the machine, by supernets trained for this set otherwise` : ''}). Reference: each trained standalone for ${RECIPES.short.text} at ${RESOLUTION}x${RESOLUTION} (seed ${REFERENCE_SEED}, the trainer's defaults otherwise), test-split top-1${seedMean ? '; `standalone-seedN`: the same recipe with training seed N (the reference\'s own noise), and "tau vs the seeds\' mean" ranks against the mean over every seed, for the members trained with all of them' : ''}${others.some((o) => o.kind === 'standalone-full5') ? `; \`standalone-full5\`: trained standalone for ${RECIPES.full5.text} instead (search-vs-zoo's recipe, the one found models are judged by), a second reference (its own table below)` : ''}. Proxy: bench/experiments/proxy-default.json's per-child training (the embedded default until 2026-12-05), validation top-1. Supernets: each member's inherited weights with batch norm recalibrated, validation top-1:`,
    ...supernetDescriptions(evaluators.map((e) => e.kind)),
    ...(scored.some((e) => e.kind.endsWith('(rank sum)'))
      ? [
          `- \`proxy + <supernet> (rank sum)\`: members ranked by the sum of their ranks under the proxy and under that supernet (scoring CPU-seconds are both's)${MEMBER_SET ? '' : ". On a space's first set they are a question for a held-out set (`--member-set`), not a finding: the rank sum was thought of after the first `mobilenetv3` set's scores were in (2026-12-06)"}.`,
        ]
      : []),
    ...(scored.some((e) => isMeanOverSeeds(e.kind))
      ? [
          "- `<supernet> (mean of seeds ...)`: each member's mean score over that supernet's trainings (`<supernet>` with its experiment's seed 0, `<supernet>-seedN` with seed N; `-ftM` kinds alike), their CPU-seconds summed.",
        ]
      : []),
    ZERO_COST_NOTE,
    '',
    markdownTable(
      [
        'evaluator',
        'members scored',
        'Kendall tau vs standalone',
        ...(seedMean ? ["tau vs the seeds' mean (members)"] : []),
        'CPU-seconds',
      ],
      [
        ['standalone (reference)', String(reference.filter(Boolean).length), '1', ...(seedMean ? ['-'] : []), standaloneCpu.toFixed(0)],
        ...fidelities.map((f, i) => [f.kind, String(f.pairs), tauText(f), ...vsSeedMean(scored[i]!), f.cpu]),
      ],
    ),
    '',
    ...others.flatMap((other) => otherRecipeTable(other, [{ kind: 'standalone', parts: reference }, ...scored])),
    markdownTable(
      [
        'member',
        'choices',
        'standalone test top-1 %',
        ...evaluators.map((e) => `${e.kind} ${e.kind.startsWith('standalone') ? 'test' : 'val'} top-1 %`),
      ],
      rows,
    ),
  ].join('\n');
  await writeSection(section, FIDELITY_MD);
  process.stderr.write(`${section}\n`);
  const pooled = pooledSection(current);
  if (pooled) await writeSection(pooled, FIDELITY_MD);
}

/**
 * Every evaluator (and the short-recipe reference) against a standalone reference with another
 * recipe, over the members it has, with 90% bootstrap intervals.
 */
function otherRecipeTable(other: Evaluator, rankings: Evaluator[]): string[] {
  const rows = rankings
    .filter((e) => e.kind !== other.kind)
    .map((e) => tauWithInterval(e.kind, pairedWithReference(e.parts, other.parts), derive(2026, 'fidelity-bootstrap', other.kind, e.kind)));
  return [
    `Against \`${other.kind}\` (${other.parts.filter(Boolean).length} of ${other.parts.length} members trained; interval: 90% percentile bootstrap over members, 2,000 seeded resamples):`,
    '',
    markdownTable(['evaluator', 'members scored', `Kendall tau vs ${other.kind}`, '90% interval'], rows),
    '',
  ];
}

/** A table row: Kendall's tau over (reference, score) pairs with its 90% bootstrap interval; dashes below two pairs. */
function tauWithInterval(kind: string, pairs: (readonly [number, number])[], rng: () => number): string[] {
  if (pairs.length < 2) return [kind, String(pairs.length), '-', '-'];
  const [reference, scores] = [pairs.map((p) => p[0]), pairs.map((p) => p[1])];
  const [low, high] = tauBootstrapInterval(reference, scores, rng);
  return [kind, String(pairs.length), kendallTauB(reference, scores).toFixed(3), `${low.toFixed(3)} to ${high.toFixed(3)}`];
}

const ZERO_COST_NOTE =
  '- `(zero-cost)`: members ranked by their spec alone, fewer units (blocks, stem and head) first or more parameters first; no training.';

/** The first member set and every `set-<name>` beside it that has its members drawn. */
function memberSetDirs(): string[] {
  const root = path.join(PROJECT_ROOT, 'results', 'fidelity', SPACE);
  const named = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith('set-'))
    .map((e) => path.join(root, e.name))
    .sort();
  return [root, ...named].filter((dir) => existsSync(path.join(dir, 'members.json')));
}

/**
 * Kendall's tau over every member set's members at once, for the evaluators every set has, with a
 * bootstrap interval: one set's 20 members give a rough tau (null: fewer than two sets). Each set's
 * members are scored by that set's own run of the evaluator. `current` is this run's set, already read.
 */
function pooledSection(current: SetScores): string | null {
  const dirs = memberSetDirs();
  if (dirs.length < 2) return null;
  const read = dirs.map((dir) => (path.resolve(dir) === path.resolve(PARTS) ? current : readSetScores(dir)));
  // A supernet's mean over the trainings every set has, where a set's own mean is over more of them.
  const trainings = pooledTrainings(read);
  const sets = read.map((set, i) => {
    const extra = trainings.means[i]!.filter((mean) => !set.scored.some((e) => e.kind === mean.kind));
    return { ...set, scored: [...set.scored, ...extra] };
  });
  const kinds = sets[0]!.scored.map((e) => e.kind).filter((kind) => sets.every((set) => set.scored.some((e) => e.kind === kind)));
  const seedMeans = sets.map((set) => seedMeanReference(set.reference, set.evaluators));
  const everySetHasSeeds = seedMeans.every(Boolean);
  const pooledPairs = (kind: string, references: (Part | null)[][]) =>
    sets.flatMap(({ scored }, i) => pairedWithReference(scored.find((e) => e.kind === kind)!.parts, references[i]!));
  const rows = kinds.map((kind) => {
    const row = tauWithInterval(
      kind,
      pooledPairs(
        kind,
        sets.map((set) => set.reference),
      ),
      derive(2026, 'fidelity-bootstrap', kind),
    );
    if (!everySetHasSeeds) return row;
    if (kind.startsWith('standalone')) return [...row, '-', '-', '-'];
    const vsMean = tauWithInterval(
      kind,
      pooledPairs(kind, seedMeans as (Part | null)[][]),
      derive(2026, 'fidelity-bootstrap-seed-mean', kind),
    );
    return [...row, ...vsMean.slice(1)];
  });
  const seedMeanHeader = everySetHasSeeds ? ['members with every seed', "tau vs the seeds' mean", '90% interval'] : [];
  return [
    `## Evaluator fidelity: the ${SPACE} space, member sets pooled`,
    '',
    `\`node dist/bench/evaluator-fidelity.js\` (any set's report; ${new Date().toISOString().slice(0, 10)}). The members of ${dirs.map((d) => path.relative(PROJECT_ROOT, d)).join(' and ')} together, each against its standalone reference (the recipe above), for the evaluators every set has. Interval: 90% percentile bootstrap over members (2,000 resamples, seeded). A rank sum's ranks are within its set.${everySetHasSeeds ? " When every set has repeated the reference with other training seeds, the last columns rank against each member's mean over the seeds (the members trained with all of them), and a `standalone-seedN` row is how well two trainings of the same members agree (the reference's own noise)." : ''}`,
    ZERO_COST_NOTE,
    '',
    markdownTable(['evaluator', 'members scored', 'Kendall tau vs standalone', '90% interval', ...seedMeanHeader], rows),
    ...trainings.agreement,
  ].join('\n');
}

/**
 * Each supernet scored by the trainings every member set has (by seed), pooled: the mean over them
 * as a pooled evaluator, and how well each two of them rank the members alike (the supernet's own noise).
 */
function pooledTrainings(sets: SetScores[]): { means: Evaluator[][]; agreement: string[] } {
  const perSet = sets.map((set) => supernetTrainings(set.evaluators));
  const common = [...perSet[0]!].flatMap(([key, trainings]) => {
    const seeds = [...trainings.keys()].filter((seed) => perSet.every((groups) => groups.get(key)?.has(seed)));
    return seeds.length > 1 ? [{ key, seeds }] : [];
  });
  const chosen = (groups: Map<string, Map<number, Evaluator>>, key: string, seeds: number[]) =>
    new Map(seeds.map((seed) => [seed, groups.get(key)!.get(seed)!]));
  const means = perSet.map((groups) => common.map(({ key, seeds }) => meanOverTrainings(key, chosen(groups, key, seeds))));
  const rows = common.flatMap(({ key, seeds }) =>
    seeds.flatMap((first, i) =>
      seeds.slice(i + 1).map((second) => {
        const pairs = perSet.flatMap((groups) => {
          const scores = (seed: number) => groups.get(key)!.get(seed)!.parts;
          return pairedWithReference(scores(second), scores(first));
        });
        const [a, b] = [perSet[0]!.get(key)!.get(first)!.kind, perSet[0]!.get(key)!.get(second)!.kind];
        return tauWithInterval(`${a} vs ${b}`, pairs, derive(2026, 'fidelity-bootstrap', a, b));
      }),
    ),
  );
  const agreement = rows.length
    ? [
        '',
        "Each two trainings of the same supernet (its experiment with other seeds), ranking the pooled members against each other (the supernet's own noise):",
        '',
        markdownTable(['supernet trainings', 'members scored by both', 'Kendall tau between them', '90% interval'], rows),
      ]
    : [];
  return { means, agreement };
}

async function main(): Promise<void> {
  await prepareBackend('auto');
  mkdirSync(PARTS, { recursive: true });
  const all = await members();
  if (ONLY === 'all' || ONLY === 'supernet' || ONLY === SUPERNET_KIND) {
    await supernet(all);
    if (FINETUNE_STEPS > 0) await finetunedSupernet(all);
  }
  if (ONLY === 'all' || ONLY === 'proxy') await proxy(all);
  if (ONLY === 'all' || ONLY === 'standalone') await standalone(all);
  await report(all);
}

try {
  await main();
} catch (error) {
  if (!(error instanceof InterruptedError)) throw error;
  process.stderr.write(
    `evaluator-fidelity: ${error.message}\nfinished parts are kept in ${path.relative(PROJECT_ROOT, PARTS)}/; run the same command again to continue\n`,
  );
  process.exit(interruptExitCode());
}
