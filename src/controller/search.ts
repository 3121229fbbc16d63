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
 * Batches are drawn whole whatever the budget, so `--resume --budget N` extends a run to the
 * trials a run of budget N would have had.
 */
import { untilAborted } from '../common/abort.js';
import { resumeCommand } from '../common/command-line.js';
import { InputError, InterruptedError } from '../common/errors.js';
import { countOf } from '../common/format.js';
import { type Logger, silentLogger } from '../common/log.js';
import { derive, nextSeed } from '../common/rng.js';
import { deployedLatencyMs } from '../latency-model/predict/predict.js';
import { specHash } from '../search-space/spec-hash.js';
import type { Evaluation, Evaluator } from '../trainer/training-pool.js';
import { DEFAULT_CONTROLLER } from './controller-settings.js';
import type { Experiment } from './experiment.js';
import { createPolicy, type Policy, type SampledBatch } from './policy.js';
import { bestOf, type SearchSummary, writeSearchOutputs } from './report.js';
import { reward } from './reward.js';
import { SearchRunDir } from './search-run.js';
import type { SearchSetup } from './setup.js';
import type { Trial, TrialStore } from './store.js';

export interface SearchProgress {
  trials: number;
  /** Trials the run had when this process took it up (a resumed run's earlier ones): the time since counts only the rest. */
  trialsBefore: number;
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

export async function runSearch(request: SearchRequest, setup: SearchSetup): Promise<SearchSummary> {
  const { experiment } = request;
  const log = request.log ?? silentLogger;
  const run = new SearchRunDir(request.runDir);
  const store = run.open(experiment, Boolean(request.resume), { table: setup.tableRef, spaceHash: setup.spaceHash });
  const optionCounts = setup.space.choicePoints.map((c) => c.options.length);
  const policy = createPolicy(experiment.algorithm, optionCounts, { ...DEFAULT_CONTROLLER, ...experiment.controller }, experiment.seed);
  try {
    if (request.resume) await run.recordBudget(experiment.budget, store.count(), request.command);
    else
      await run.writeRecord({
        command: request.command,
        experiment,
        targetMs: setup.rewardSettings.targetMs,
        fastestMs: setup.fastestMs,
        table: setup.tableRef,
        spaceHash: setup.spaceHash,
      });
    const wallTime = run.startWallTime(log);
    await searchToBudget(request, setup, { run, store, policy, log }).finally(() => wallTime.stop());
    return await writeSearchOutputs({
      run,
      store,
      experiment,
      setup,
      wallSeconds: wallTime.totalSeconds(),
      sessionWallSeconds: wallTime.sessionSeconds(),
      seed: experiment.seed,
    });
  } finally {
    policy.dispose();
    store.close();
  }
}

/** Draws, evaluates and learns from batches until the budget is spent (from where a resumed run stopped). */
async function searchToBudget(
  request: SearchRequest,
  setup: SearchSetup,
  { run, store, policy, log }: { run: SearchRunDir; store: TrialStore; policy: Policy; log: Logger },
): Promise<void> {
  const { experiment } = request;
  let batchIndex = request.resume ? await restoreController(run, policy, store, experiment, log) : 0;
  let best = bestOf(store.all());
  const trialsBefore = store.count();
  while (batchIndex * experiment.batchSize < experiment.budget) {
    const first = batchIndex * experiment.batchSize;
    // Always a whole batch, whatever the budget: a run extended later draws what a longer run would have.
    const sampled = await policy.sample(experiment.batchSize, nextSeed(derive(experiment.seed, 'batch', batchIndex)));
    const size = Math.min(experiment.batchSize, experiment.budget - first);
    const trials = await evaluateBatch(request, setup, store, sampled, { batch: batchIndex, first, size }, (trial) => {
      if (!best || trial.reward > best.reward) best = trial;
      request.onProgress?.({ trials: store.count(), trialsBefore, budget: experiment.budget, best, last: trial });
    });
    // A batch the budget cuts short updates the controller only once an extension completes it.
    if (size < experiment.batchSize) break;
    const stats = await policy.update(
      sampled,
      trials.map((t) => t.reward),
    );
    batchIndex++;
    await run.writeControllerCheckpoint(batchIndex, await policy.getState());
    log.debug({ batch: batchIndex, ...stats }, 'controller updated');
  }
}

/** Puts the controller back in its state after the last finished batch; returns the batches done. */
async function restoreController(
  run: SearchRunDir,
  policy: Policy,
  store: TrialStore,
  experiment: Experiment,
  log: Logger,
): Promise<number> {
  const saved = run.readControllerCheckpoint();
  if (!saved) return 0;
  // Earlier versions updated the controller on a last batch the budget cut short: its missing trials cannot be drawn again.
  if (Math.min(saved.batches * experiment.batchSize, experiment.budget) > store.count())
    throw new InputError(
      `${run.file('controller')} has learned from ${saved.batches} batches of ${experiment.batchSize} but ${run.file('trials')} holds ${store.count()} trials (a run of an earlier version that updated on a short last batch): it cannot be extended; start a new run`,
    );
  await policy.setState(saved.state);
  log.info({ batches: saved.batches, trials: store.count() }, 'resuming search');
  return saved.batches;
}

async function evaluateBatch(
  request: SearchRequest,
  setup: SearchSetup,
  store: TrialStore,
  sampled: SampledBatch,
  { batch, first, size }: { batch: number; first: number; size: number },
  onTrial: (t: Trial) => void,
): Promise<Trial[]> {
  const { experiment } = request;
  const pending = new Map<string, Promise<Evaluation>>();
  const results = sampled.choices.slice(0, size).map(async (choices, slot): Promise<Trial> => {
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
    const latencyMs = deployedLatencyMs(spec, setup.table, { resolution, classes });
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
      const evaluation = await untilAborted(shared, request.signal);
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
        `search interrupted: ${countOf(store.count(), 'finished trial')} kept in ${new SearchRunDir(request.runDir).file('trials')}; continue with ${resumeCommand('search', request.runDir)}`,
      );
    }
    throw failure.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<Trial>).value);
}
