/**
 * TuNAS-style search: one supernet trained jointly with the controller.
 *
 * Each step trains the shared weights on one training batch through one member of the space. For
 * the first `warmup` share of the steps the member is drawn uniformly (every op and width gets
 * trained before the controller starts judging them; with `fairPaths`, a strictly fair set of members
 * instead: fair.ts), after the space's largest member alone for
 * the first `largestFirst` share if that is set; after that the controller draws it, and the
 * same member's accuracy on a validation batch (the shared weights, batch statistics) and its
 * table latency give the reward. Every rewarded member is a trial in the store; the controller is
 * updated once per batch of `batchSize` trials. At the end the controller's most likely member and
 * members it draws are ranked with recalibrated batch norm on the validation split (ranking.ts).
 *
 * Every random draw is derived from (seed, purpose, step), so a resumed run replays the same data
 * order, augmentation and uniform members; the checkpoint holds the rest (weights, optimizer,
 * controller, the controller batch being rewarded).
 */
import { resumeCommand } from '../common/command-line.js';
import { DivergedError, InputError, InterruptedError } from '../common/errors.js';
import { countOf } from '../common/format.js';
import { type Logger, silentLogger } from '../common/log.js';
import { derive, nextSeed, shuffle } from '../common/rng.js';
import { DEFAULT_CONTROLLER } from '../controller/controller-settings.js';
import type { Experiment } from '../controller/experiment.js';
import { createPolicy, type Policy } from '../controller/policy.js';
import type { SearchSummary } from '../controller/report.js';
import { reward } from '../controller/reward.js';
import type { SearchRequest } from '../controller/search.js';
import { proxyTrainConfig, type SearchSetup } from '../controller/setup.js';
import type { TrialStore } from '../controller/store.js';
import { deployedLatencyMs } from '../latency-model/predict/predict.js';
import type { ChoiceSpace } from '../search-space/choice-space.js';
import { specHash } from '../search-space/spec-hash.js';
import { learningRateAt, type TrainConfig } from '../trainer/config.js';
import { ImageBatcher } from '../trainer/data/batches.js';
import type { ImageDataset } from '../trainer/data/dataset.js';
import { loadDataset } from '../trainer/data/index.js';
import type { Optimizer } from '../trainer/optimizer.js';
import { tf } from '../trainer/tf.js';
import { fairMembers } from './fair.js';
import { finetuneTopCandidates } from './finetune.js';
import { type RankedCandidate, rankCandidates, writeRankingOutputs } from './ranking.js';
import { sandwichMembers } from './sandwich.js';
import { type SupernetSettings, supernetSettings } from './settings.js';
import { supernetOptimizer, supernetTrainingStep } from './step.js';
import { Supernet } from './supernet.js';
import { type PendingBatch, type SupernetCheckpoint, SupernetRunDir } from './supernet-run.js';

export interface SupernetProgress {
  phase: 'warm-up' | 'search' | 'ranking' | 'fine-tune';
  step: number;
  steps: number;
  trials: number;
  budget: number;
  loss: number | null;
  /** The last rewarded member's validation-batch accuracy, latency and reward. */
  last: { accuracy: number; latencyMs: number; reward: number } | null;
  /** The controller's most likely member's latency (null before the controller learns). */
  bestGuessMs: number | null;
  imagesPerSec: number;
  etaSeconds: number;
  /** Ranking and fine-tune phases: candidates ranked (fine-tuned) so far, of how many. */
  ranked?: { done: number; of: number };
}

export type SupernetSearchRequest = Omit<SearchRequest, 'evaluator' | 'onProgress'> & {
  onProgress?: (p: SupernetProgress) => void;
};

/**
 * How much of the op and residual warm-ups remains at a step: 1 at the first step, falling
 * linearly to 0 over `share` of the warm-up's steps, 0 from then on.
 */
export function pathWarmupWeight(step: number, warmupSteps: number, share: number): number {
  const pathWarmupSteps = warmupSteps * share;
  return step < pathWarmupSteps ? 1 - step / pathWarmupSteps : 0;
}

/**
 * A warm-up step's members: the space's largest during the first `largestFirstSteps` steps, then
 * a uniform draw, or with `fairPaths` a strictly fair set of members (fair.ts).
 */
export function warmupMembers(
  space: ChoiceSpace,
  phase: { largest: readonly number[]; largestFirstSteps: number; fairPaths: boolean },
  seed: number,
  step: number,
): number[][] {
  if (step < phase.largestFirstSteps) return [[...phase.largest]];
  if (phase.fairPaths) return fairMembers(space, derive(seed, 'fair', step));
  return [space.randomChoices(derive(seed, 'uniform', step))];
}

/** Steps the whole run trains: `budget` rewarded steps after the warm-up. */
export function supernetSteps(budget: number, settings: SupernetSettings): { steps: number; warmupSteps: number } {
  const steps = Math.ceil(budget / (1 - settings.warmup));
  return { steps, warmupSteps: steps - budget };
}

export async function runSupernetSearch(request: SupernetSearchRequest, setup: SearchSetup): Promise<SearchSummary> {
  const job = new SupernetSearch(request, setup);
  try {
    return await job.execute();
  } finally {
    job.dispose();
  }
}

/** The state that moves as the run goes; all of it is in a checkpoint. */
interface Position {
  step: number;
  trials: number;
  controllerBatches: number;
  pending: PendingBatch | null;
  trainSeconds: number;
  lastLoss: number | null;
}

class SupernetSearch {
  private readonly log: Logger;
  private readonly settings: SupernetSettings;
  private readonly config: TrainConfig;
  private readonly runDir: SupernetRunDir;
  private readonly store: TrialStore;
  private readonly train: ImageBatcher;
  private readonly validation: ImageBatcher;
  private readonly supernet: Supernet;
  private readonly variables: { name: string; variable: tf.Variable }[];
  private readonly optimizer: Optimizer;
  private readonly step: ReturnType<typeof supernetTrainingStep>;
  private readonly policy: Policy;
  private readonly steps: number;
  private readonly warmupSteps: number;
  private readonly largestFirstSteps: number;
  private readonly largestMember: number[];
  private readonly stepsPerEpoch: number;
  private readonly latencies = new Map<string, number>();
  private readonly mixableOps: number[];
  private order: { epoch: number; indices: Int32Array } | null = null;
  private position: Position = { step: 0, trials: 0, controllerBatches: 0, pending: null, trainSeconds: 0, lastLoss: null };
  private lastCheckpoint = performance.now();
  /** The step the run directory's checkpoint holds (null: none written yet). */
  private checkpointStep: number | null = null;

  constructor(
    private readonly request: SupernetSearchRequest,
    private readonly setup: SearchSetup,
  ) {
    const { experiment } = request;
    this.log = request.log ?? silentLogger;
    this.settings = supernetSettings(experiment.supernet);
    this.config = proxyTrainConfig(experiment);
    ({ train: this.train, validation: this.validation } = proxyBatchers(experiment, setup.space));
    this.stepsPerEpoch = Math.max(1, Math.floor(this.train.count / this.config.batchSize));
    ({ steps: this.steps, warmupSteps: this.warmupSteps } = supernetSteps(experiment.budget, this.settings));
    this.largestFirstSteps = Math.round(this.steps * this.settings.largestFirst);
    this.runDir = new SupernetRunDir(request.runDir);
    this.store = this.runDir.open(experiment, Boolean(request.resume), { table: setup.tableRef, spaceHash: setup.spaceHash });
    this.supernet = new Supernet(setup.space, {
      resolution: experiment.proxy.resolution,
      classes: setup.proxyClasses,
      seed: experiment.seed,
    });
    this.variables = this.supernet.namedVariables();
    this.mixableOps = this.supernet.mixableOps();
    this.optimizer = supernetOptimizer(this.supernet, {
      kind: this.config.optimizer,
      momentum: this.config.momentum,
      weightDecay: this.config.weightDecay,
    });
    const ends = sandwichMembers(setup.space);
    this.largestMember = ends.largest;
    this.step = supernetTrainingStep(this.supernet, this.optimizer, this.settings.sandwich ? ends : null);
    const controller = { ...DEFAULT_CONTROLLER, ...experiment.controller };
    if (this.settings.controllerLearningRate) controller.learningRate = this.settings.controllerLearningRate;
    const optionCounts = setup.space.choicePoints.map((c) => c.options.length);
    this.policy = createPolicy(experiment.algorithm, optionCounts, controller, experiment.seed);
  }

  async execute(): Promise<SearchSummary> {
    if (this.request.resume) await this.restore();
    else await this.runDir.writeRecord(this.recordFields());
    const wallTime = this.runDir.startWallTime(this.log);
    const ranking = await this.trainAndRank().finally(() => wallTime.stop());
    return writeRankingOutputs({
      run: this.runDir,
      store: this.store,
      experiment: this.request.experiment,
      setup: this.setup,
      ranking,
      supernet: this.supernet,
      command: this.request.command,
      wallSeconds: wallTime.totalSeconds(),
      sessionWallSeconds: wallTime.sessionSeconds(),
    });
  }

  /** Trains the supernet with the controller (from where a resumed run stopped), then ranks its candidates and fine-tunes the top ones. */
  private async trainAndRank(): Promise<RankedCandidate[]> {
    const { experiment } = this.request;
    this.log.info(
      { steps: this.steps, warmupSteps: this.warmupSteps, stepsPerEpoch: this.stepsPerEpoch, fromStep: this.position.step },
      'supernet search',
    );
    this.warnOfPlainMembers();
    while (this.position.step < this.steps) {
      await this.trainingStep();
      if (this.request.signal?.aborted) await this.stopForInterrupt();
      if (performance.now() - this.lastCheckpoint > this.settings.checkpointMinutes * 60_000) await this.checkpoint();
    }
    await this.checkpoint();
    const ranking = await rankCandidates({
      runDir: this.runDir.dir,
      supernet: this.supernet,
      policy: this.policy,
      experiment,
      setup: this.setup,
      settings: this.settings,
      train: this.train,
      validation: this.validation,
      latencyOf: (choices) => this.latencyOf(choices),
      onProgress: (done, of) => this.report('ranking', { done, of }),
      signal: this.request.signal,
    });
    return finetuneTopCandidates(
      {
        run: this.runDir,
        supernet: this.supernet,
        experiment,
        setup: this.setup,
        settings: this.settings,
        onProgress: (done, of) => this.report('fine-tune', { done, of }),
        signal: this.request.signal,
      },
      ranking,
    );
  }

  dispose(): void {
    this.policy.dispose();
    this.supernet.dispose();
    this.store.close();
  }

  private recordFields() {
    return {
      command: this.request.command,
      experiment: this.request.experiment,
      targetMs: this.setup.rewardSettings.targetMs,
      fastestMs: this.setup.fastestMs,
      table: this.setup.tableRef,
      spaceHash: this.setup.spaceHash,
    };
  }

  /** One step: train the shared weights through a member (or a fair set of them); after the warm-up, reward that member. */
  private async trainingStep(): Promise<void> {
    const { step } = this.position;
    const searching = step >= this.warmupSteps;
    const members = searching
      ? [await this.controllerMember()]
      : warmupMembers(
          this.setup.space,
          { largest: this.largestMember, largestFirstSteps: this.largestFirstSteps, fairPaths: this.settings.fairPaths },
          this.request.experiment.seed,
          step,
        );
    const started = performance.now();
    const loss = this.trainOn(members, step);
    if (!Number.isFinite(loss)) throw this.diverged(`supernet loss is ${loss} at step ${step + 1}`);
    this.position.lastLoss = loss;
    if (searching) await this.rewardMember(members[0]!, step);
    this.position.trainSeconds += (performance.now() - started) / 1000;
    this.position.step++;
    this.report(searching ? 'search' : 'warm-up');
    // Lets a signal handler run between steps.
    await new Promise((resolve) => setImmediate(resolve));
  }

  private trainOn(members: readonly (readonly number[])[], step: number): number {
    const { experiment } = this.request;
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const within = step % this.stepsPerEpoch;
    const indices = this.epochOrder(epoch).subarray(within * this.config.batchSize, (within + 1) * this.config.batchSize);
    const batch = this.train.batch(indices, derive(experiment.seed, 'augment', step));
    const learningRate = learningRateAt({ ...this.config, epochs: this.steps / this.stepsPerEpoch }, step / this.stepsPerEpoch);
    try {
      const dropoutSeed = nextSeed(derive(experiment.seed, 'dropout', step));
      return this.step(members, batch, learningRate, dropoutSeed, this.mixedOpsAt(step), this.plainResidualAt(step));
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
  }

  private warnOfPlainMembers(): void {
    const choices = this.supernet.plainMemberChoices();
    if (choices.length === 0 || this.settings.residualWarmup) return;
    const space = this.request.experiment.space;
    this.log.warn(
      { choices },
      `space ${space} has members without residuals (${choices.length} skip choices such as ${choices[0]}) and supernet.residualWarmup is off: a supernet learns little from them (results/supernet.md), so its rewards will be mostly noise; turn it on, search a space with residuals always on (e.g. mobilenetv3-ibn) or use "evaluator": "proxy"`,
    );
  }

  private pathWarmupAt(step: number): number {
    return pathWarmupWeight(step, this.warmupSteps, this.settings.pathWarmupShare);
  }

  /** The weight of the input a layer without its residual adds at a step. */
  private plainResidualAt(step: number): number {
    return this.settings.residualWarmup ? this.pathWarmupAt(step) : 0;
  }

  /** The op choices that run all their ops at a warm-up step: each with the remaining warm-up as its probability. */
  private mixedOpsAt(step: number): number[] {
    const probability = this.settings.opWarmup ? this.pathWarmupAt(step) : 0;
    if (probability === 0) return [];
    const rng = derive(this.request.experiment.seed, 'op-warmup', step);
    return this.mixableOps.filter(() => rng() < probability);
  }

  private epochOrder(epoch: number): Int32Array {
    if (this.order?.epoch !== epoch) {
      const indices = Int32Array.from({ length: this.train.count }, (_, i) => i);
      this.order = { epoch, indices: shuffle(indices, derive(this.request.experiment.seed, 'order', epoch)) as Int32Array };
    }
    return this.order.indices;
  }

  /** The next member of the controller batch being rewarded (a new batch is drawn when none is open). */
  private async controllerMember(): Promise<number[]> {
    const { experiment } = this.request;
    if (!this.position.pending) {
      const seed = nextSeed(derive(experiment.seed, 'batch', this.position.controllerBatches));
      const sampled = await this.policy.sample(experiment.batchSize, seed);
      this.position.pending = { choices: sampled.choices, logProbs: sampled.logProbs, rewards: [] };
    }
    return this.position.pending.choices[this.position.pending.rewards.length]!;
  }

  private async rewardMember(choices: number[], step: number): Promise<void> {
    const pending = this.position.pending!;
    const slot = pending.rewards.length;
    const accuracy = this.validationBatchAccuracy(choices, step);
    const latencyMs = this.latencyOf(choices);
    const value = reward(accuracy, latencyMs, this.setup.rewardSettings);
    const spec = this.supernet.member(choices, `${this.request.experiment.name}-trial${this.position.trials}`);
    this.store.add({
      trial: this.position.trials,
      batch: this.position.controllerBatches,
      slot,
      choices,
      specHash: specHash(spec),
      spec: JSON.stringify(spec),
      latencyMs,
      accuracy,
      reward: value,
      logProb: pending.logProbs[slot]!,
      trainSeconds: 0,
      memoised: false,
      error: null,
      finishedAt: new Date().toISOString(),
    });
    this.position.trials++;
    pending.rewards.push(value);
    if (pending.rewards.length === pending.choices.length) {
      const stats = await this.policy.update({ choices: pending.choices, logProbs: pending.logProbs }, pending.rewards);
      this.position.controllerBatches++;
      this.position.pending = null;
      this.log.debug({ batch: this.position.controllerBatches, ...stats }, 'controller updated');
    }
  }

  /** Top-1 of a member on one validation batch, with the shared weights and the batch's statistics. */
  private validationBatchAccuracy(choices: readonly number[], step: number): number {
    const rng = derive(this.request.experiment.seed, 'validation', step);
    const n = Math.min(this.settings.validationBatch, this.validation.count);
    const indices = Int32Array.from({ length: n }, () => Math.floor(rng() * this.validation.count));
    const batch = this.validation.batch(indices);
    try {
      const predicted = tf.tidy(() => tf.argMax(this.supernet.forward(choices, batch.x, { kind: 'batch' }), 1).dataSync() as Int32Array);
      let correct = 0;
      for (let i = 0; i < n; i++) if (predicted[i] === batch.labels[i]) correct++;
      return correct / n;
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
  }

  /** Predicted latency of a member deployed at the experiment's latency resolution and classes. */
  private latencyOf(choices: readonly number[]): number {
    const key = choices.join(',');
    let ms = this.latencies.get(key);
    if (ms === undefined) {
      const { resolution, classes } = this.request.experiment.latency;
      ms = deployedLatencyMs(this.supernet.member(choices), this.setup.table, { resolution, classes });
      this.latencies.set(key, ms);
    }
    return ms;
  }

  private report(phase: SupernetProgress['phase'], ranked?: { done: number; of: number }): void {
    if (!this.request.onProgress) return;
    const { step, trials, trainSeconds, lastLoss } = this.position;
    const secondsPerStep = step > 0 ? trainSeconds / step : Number.NaN;
    const last = this.lastTrial();
    const guess = step >= this.warmupSteps ? this.policy.mostLikely() : null;
    this.request.onProgress({
      phase,
      step,
      steps: this.steps,
      trials,
      budget: this.request.experiment.budget,
      loss: lastLoss,
      last,
      bestGuessMs: guess ? this.latencyOf(guess) : null,
      imagesPerSec: step > 0 ? (step * this.config.batchSize) / trainSeconds : 0,
      etaSeconds: (this.steps - step) * secondsPerStep,
      ranked,
    });
  }

  private lastTrial(): SupernetProgress['last'] {
    if (this.position.trials === 0) return null;
    const t = this.store.get(this.position.trials - 1);
    return t && { accuracy: t.accuracy, latencyMs: t.latencyMs, reward: t.reward };
  }

  private async checkpoint(): Promise<void> {
    const arrays = [
      ...this.variables.map(({ name, variable }) => ({ name, values: variable.dataSync() as Float32Array })),
      ...this.optimizer.exportSlots().map((values, i) => ({ name: `optimizer/${i}`, values })),
    ];
    // A finite loss can still come with an overflowed gradient; such weights are never saved over good ones.
    const spoilt = arrays.find(({ values }) => !values.every(Number.isFinite));
    if (spoilt) throw this.diverged(`supernet weight ${spoilt.name} is not finite after step ${this.position.step}`);
    await this.runDir.writeCheckpoint({ ...this.position, controller: { ...(await this.policy.getState()) } }, arrays);
    this.checkpointStep = this.position.step;
    this.lastCheckpoint = performance.now();
    this.log.debug({ step: this.position.step, trials: this.position.trials }, 'supernet checkpoint');
  }

  private async restore(): Promise<void> {
    this.refuseBudgetChange();
    const saved = this.runDir.readCheckpoint();
    if (!saved) {
      this.log.info('no supernet checkpoint yet: starting from step 0');
      this.store.deleteFrom(0);
      return;
    }
    this.restoreWeights(saved);
    this.checkpointStep = saved.state.step;
    await this.policy.setState(saved.state.controller as never);
    const { step, trials, controllerBatches, pending, trainSeconds, lastLoss } = saved.state;
    this.position = { step, trials, controllerBatches, pending, trainSeconds, lastLoss };
    const dropped = this.store.deleteFrom(trials);
    this.log.info({ step, trials, droppedTrials: dropped }, 'resuming supernet search');
  }

  /** The error that stops a diverged run, saying what of it is kept. */
  private diverged(cause: string): DivergedError {
    const kept =
      this.checkpointStep === null
        ? `no checkpoint was written yet (the first is due ${this.settings.checkpointMinutes} minutes into the run)`
        : `the last good checkpoint (step ${this.checkpointStep}) is kept in ${this.runDir.dir}`;
    return new DivergedError(`${cause}: ${kept}; lower proxy.train.learningRate and start a new run`);
  }

  /** The budget sets the warm-up length and the learning-rate schedule of every step: a resumed run keeps its own. */
  private refuseBudgetChange(): void {
    const recorded = this.runDir.readRecord().experiment.budget;
    const { budget } = this.request.experiment;
    if (budget !== recorded)
      throw new InputError(
        `${this.runDir.dir} is a supernet run of budget ${recorded}, which fixes its warm-up and learning-rate schedule: --resume cannot change it to ${budget}; drop --budget, or start a new run with --budget ${budget}`,
      );
  }

  private restoreWeights({ state, arrays }: SupernetCheckpoint): void {
    this.supernet.loadArrays(arrays, this.runDir.supernetFile('checkpointState'));
    const slots = state.arrays.filter((a) => a.name.startsWith('optimizer/')).map((a) => arrays.get(a.name)!);
    this.optimizer.importSlots(slots);
  }

  private async stopForInterrupt(): Promise<never> {
    await this.checkpoint();
    throw new InterruptedError(
      `supernet search interrupted at step ${this.position.step}/${this.steps}: weights, optimizer, controller and ${countOf(this.position.trials, 'trial')} are kept in ${this.runDir.dir}; continue with ${resumeCommand('search', this.runDir.dir)}`,
    );
  }
}

/** The proxy task's training batches (augmented as its recipe says) and validation batches. */
export function proxyBatchers(experiment: Experiment, space: ChoiceSpace): { train: ImageBatcher; validation: ImageBatcher } {
  const config = proxyTrainConfig(experiment);
  const { dataset: source, resolution } = experiment.proxy;
  const data = loadDataset(source, resolution);
  if (!('train' in data))
    throw new InputError(
      `dataset ${source} is not an image classification dataset: the supernet evaluator trains classifiers; use a classification dataset or "evaluator": "proxy"`,
    );
  const dataset = data as ImageDataset;
  const channels = space.definition.input.channels;
  const batcher = (split: 'train' | 'validation', augment: boolean, limit: number | null, labelSmoothing: number) =>
    new ImageBatcher(dataset, split, { resolution, channels, augment, limit: limit ?? undefined, labelSmoothing });
  return {
    train: batcher('train', config.augment, config.trainSamples, config.labelSmoothing),
    validation: batcher('validation', false, config.validationSamples, 0),
  };
}
