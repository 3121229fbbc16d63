/**
 * A search run: sample a batch of architectures from the controller, give each an accuracy (proxy
 * training, memoised by spec hash) and a latency (the table), reward them, update the controller,
 * repeat until the budget is spent.
 *
 * The run directory is the run's durable state: the experiment and its hash, the trial store
 * (every finished trial committed at once), and the controller checkpoint written after each
 * update. Batch b's samples depend only on the controller state after batch b-1 and a seed derived
 * from (seed, b), so `--resume` re-draws the interrupted batch identically, takes its finished
 * trials from the store and trains only the rest: the same trajectory as an uninterrupted run.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { InputError, InterruptedError } from '../common/errors.js';
import { readJsonFile, writeJsonAtomic } from '../common/json-io.js';
import { type Logger, silentLogger } from '../common/log.js';
import { derive, nextSeed } from '../common/rng.js';
import { TOOL_NAME } from '../common/version.js';
import { predictLatency } from '../latency-model/predict.js';
import { fastestLatency, missingSpaceKeys } from '../latency-model/space-latency.js';
import type { LatencyTable } from '../latency-model/table.js';
import { loadTable } from '../latency-model/tables.js';
import type { ChoiceSpace } from '../search-space/choice-space.js';
import { readArchSpec, withInput } from '../search-space/io.js';
import { getChoiceSpace } from '../search-space/spaces.js';
import { specHash } from '../search-space/spec-hash.js';
import { isZooName, zooSpec } from '../search-space/zoo/index.js';
import { type TrainConfig, trainConfig } from '../trainer/config.js';
import type { Evaluation, Evaluator } from '../trainer/training-pool.js';
import { type Experiment, experimentHash } from './experiment.js';
import { createPolicy, DEFAULT_CONTROLLER, type PolicyState, type SampledBatch } from './policy.js';
import { type SearchSummary, writeSearchOutputs } from './report.js';
import { type RewardSettings, reward } from './reward.js';
import { type Trial, TrialStore } from './store.js';

export interface SearchProgress {
  trials: number;
  budget: number;
  best: Trial | null;
  last: Trial;
}

export interface SearchRequest {
  experiment: Experiment;
  runDir: string;
  resume?: boolean;
  /** Builds the evaluator (proxy training by default; tests and benchmarks inject others). */
  evaluator: Evaluator;
  command: string;
  onProgress?: (p: SearchProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

interface ControllerCheckpoint {
  schemaVersion: 1;
  kind: 'controller-checkpoint';
  /** Batches whose update is in the state. */
  batches: number;
  state: PolicyState;
}

const RUN_FILE = 'run.json';
const CONTROLLER_FILE = 'controller.json';

/** Everything a run needs that is derived from the experiment and checked before any training. */
export interface SearchSetup {
  space: ChoiceSpace;
  table: LatencyTable;
  rewardSettings: RewardSettings;
  fastestMs: number;
  /** Classes of the proxy task (the trained children's classifier). */
  proxyClasses: number;
}

/** The training recipe of the proxy evaluator's children (the run's seed unless the experiment sets one). */
export function proxyTrainConfig(experiment: Experiment): TrainConfig {
  return trainConfig(
    { ...experiment.proxy.train, seed: experiment.proxy.train.seed ?? experiment.seed },
    `${experiment.name}: proxy.train`,
  );
}

function resolveTarget(experiment: Experiment, table: LatencyTable): number {
  const target = experiment.reward.targetMs;
  if (typeof target === 'number') return target;
  const spec = isZooName(target.spec) && !existsSync(target.spec) ? zooSpec(target.spec) : readArchSpec(target.spec);
  const { resolution, classes } = experiment.latency;
  return predictLatency(withInput(spec, { resolution, classes }), table).totalMs * target.scale;
}

export function setupSearch(experiment: Experiment, proxyClasses: number): SearchSetup {
  const space = getChoiceSpace(experiment.space);
  const table = loadTable(experiment.latency.table);
  const { resolution, classes } = experiment.latency;
  const missing = missingSpaceKeys(space, table, resolution, classes);
  if (missing.length) {
    throw new InputError(
      `table ${table.name} lacks ${missing.length} ops of space ${space.name} at ${resolution}x${resolution} (e.g. ${missing[0]}): profile them with nas profile --space ${experiment.space} --resolution ${resolution} --out ${experiment.latency.table.endsWith('.json') ? experiment.latency.table : `tables/${experiment.latency.table}.json`}`,
    );
  }
  const targetMs = resolveTarget(experiment, table);
  const fastestMs = fastestLatency(space, table, resolution, classes);
  if (targetMs < fastestMs) {
    throw new InputError(
      `no architecture of space ${space.name} can meet the target of ${targetMs.toFixed(2)} ms on ${table.name}: its fastest member takes ${fastestMs.toFixed(2)} ms; raise reward.targetMs`,
    );
  }
  return {
    space,
    table,
    rewardSettings: { targetMs, constraint: experiment.reward.constraint, w: experiment.reward.w },
    fastestMs,
    proxyClasses,
  };
}

function prepareRunDir(request: SearchRequest): TrialStore {
  const { runDir, experiment } = request;
  const hash = experimentHash(experiment);
  const runFile = path.join(runDir, RUN_FILE);
  if (request.resume) {
    if (!existsSync(runFile))
      throw new InputError(`${runDir}: not a search run directory (no ${RUN_FILE}); drop --resume to start a new run there`);
    const run = readJsonFile(runFile) as { experimentHash?: string; experiment?: { name?: string } };
    if (run.experimentHash !== hash) {
      throw new InputError(
        `${runDir} belongs to another experiment (${run.experiment?.name ?? 'unknown'}); resume it with its own experiment file or choose a new --out`,
      );
    }
  } else if (existsSync(runFile)) {
    throw new InputError(`${runDir} already holds a search run: continue it with --resume or choose a new --out`);
  }
  mkdirSync(runDir, { recursive: true });
  return new TrialStore(runDir);
}

export async function runSearch(request: SearchRequest, setup: SearchSetup): Promise<SearchSummary> {
  const { experiment, runDir } = request;
  const log = request.log ?? silentLogger;
  const store = prepareRunDir(request);
  const started = performance.now();
  const optionCounts = setup.space.choicePoints.map((c) => c.options.length);
  const policy = createPolicy(experiment.algorithm, optionCounts, { ...DEFAULT_CONTROLLER, ...experiment.controller }, experiment.seed);
  try {
    if (!request.resume) {
      await writeJsonAtomic(path.join(runDir, RUN_FILE), {
        schemaVersion: 1,
        kind: 'search-run',
        tool: TOOL_NAME,
        command: request.command,
        experimentHash: experimentHash(experiment),
        experiment,
        targetMs: setup.rewardSettings.targetMs,
        fastestMs: setup.fastestMs,
        createdAt: new Date().toISOString(),
      });
    }
    let batchIndex = 0;
    const controllerFile = path.join(runDir, CONTROLLER_FILE);
    if (request.resume && existsSync(controllerFile)) {
      const saved = readJsonFile(controllerFile) as ControllerCheckpoint;
      await policy.setState(saved.state);
      batchIndex = saved.batches;
      log.info({ batches: batchIndex, trials: store.count() }, 'resuming search');
    }
    let best = bestOf(store.all());
    while (batchIndex * experiment.batchSize < experiment.budget) {
      const first = batchIndex * experiment.batchSize;
      const size = Math.min(experiment.batchSize, experiment.budget - first);
      const sampled = await policy.sample(size, nextSeed(derive(experiment.seed, 'batch', batchIndex)));
      const trials = await evaluateBatch(request, setup, store, sampled, batchIndex, first, (trial) => {
        if (!best || trial.reward > best.reward) best = trial;
        request.onProgress?.({ trials: store.count(), budget: experiment.budget, best, last: trial });
      });
      const stats = await policy.update(
        sampled,
        trials.map((t) => t.reward),
      );
      batchIndex++;
      const checkpoint: ControllerCheckpoint = {
        schemaVersion: 1,
        kind: 'controller-checkpoint',
        batches: batchIndex,
        state: await policy.getState(),
      };
      await writeJsonAtomic(controllerFile, checkpoint);
      log.debug({ batch: batchIndex, ...stats }, 'controller updated');
    }
    return await writeSearchOutputs({
      runDir,
      store,
      experiment,
      setup,
      wallSeconds: (performance.now() - started) / 1000,
      seed: experiment.seed,
    });
  } finally {
    policy.dispose();
    store.close();
  }
}

async function evaluateBatch(
  request: SearchRequest,
  setup: SearchSetup,
  store: TrialStore,
  sampled: SampledBatch,
  batch: number,
  first: number,
  onTrial: (t: Trial) => void,
): Promise<Trial[]> {
  const { experiment } = request;
  const pending = new Map<string, Promise<Evaluation>>();
  const results = sampled.choices.map(async (choices, slot): Promise<Trial> => {
    const index = first + slot;
    const done = store.get(index);
    if (done) return done;
    if (request.signal?.aborted) throw new InterruptedError('');
    const spec = setup.space.materialise(choices, {
      resolution: experiment.proxy.resolution,
      classes: setup.proxyClasses,
      name: `${experiment.name}-trial${index}`,
      command: request.command,
      seed: experiment.seed,
    });
    const { resolution, classes } = experiment.latency;
    const latencyMs = predictLatency(withInput(spec, { resolution, classes }), setup.table).totalMs;
    const hash = specHash(spec);
    const remembered = store.accuracyOf(hash);
    let accuracy = remembered ?? 0;
    let error: string | null = null;
    let seconds = 0;
    if (remembered === null) {
      // Two identical children in one batch are trained once.
      let shared = pending.get(hash);
      if (!shared) {
        shared = request.evaluator.evaluate(spec);
        pending.set(hash, shared);
      }
      const evaluation = await shared;
      if (request.signal?.aborted) throw new InterruptedError('');
      ({ accuracy, error, seconds } = evaluation);
    }
    const trial: Trial = {
      trial: index,
      batch,
      slot,
      choices,
      specHash: hash,
      spec: JSON.stringify(spec),
      latencyMs,
      accuracy,
      reward: reward(accuracy, latencyMs, setup.rewardSettings),
      logProb: sampled.logProbs[slot]!,
      trainSeconds: seconds,
      memoised: remembered !== null,
      error,
      finishedAt: new Date().toISOString(),
    };
    store.add(trial);
    onTrial(trial);
    return trial;
  });
  const settled = await Promise.allSettled(results);
  const failure = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failure) {
    if (failure.reason instanceof InterruptedError || request.signal?.aborted) {
      throw new InterruptedError(
        `search interrupted: ${store.count()} finished trials are kept in ${path.join(request.runDir, 'trials.sqlite')}; continue with nas search --resume ${request.runDir}`,
      );
    }
    throw failure.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<Trial>).value);
}

export function bestOf(trials: readonly Trial[]): Trial | null {
  return trials.reduce<Trial | null>((best, t) => (!best || t.reward > best.reward ? t : best), null);
}
