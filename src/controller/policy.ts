/**
 * Controllers: an LSTM policy (tfjs, ./lstm.ts) that emits one token per choice point, fed the
 * embedding of the previous token, trained with REINFORCE (moving-average baseline, entropy bonus)
 * or PPO (clipped objective, as MnasNet); and uniform random search as the baseline. All sampling
 * is seeded: tokens are drawn from generators derived from the batch seed (one per shard).
 *
 * Advantages are R - b with b the moving average of rewards, divided by a moving estimate of the
 * reward spread so the learning rate does not depend on the reward's scale (accuracies differ by
 * a few hundredths between children).
 *
 * Batches of at least 2 x MIN_SHARD sequences are split into contiguous shards: the main thread
 * samples and differentiates the first, `workers` threads (./shard-pool.ts) the others, and the
 * shards' gradients are summed before one Adam step (./adam.ts, on the weights as arrays), so an
 * update equals the unsplit one up to float rounding. Smaller batches (a search's usual 8 to 64)
 * never leave the main thread. Sampling keeps each shard's trace, so the first epoch of the update
 * of the batch just drawn needs no forward pass.
 */
import { derive } from '../common/rng.js';
import { ADAM_DEFAULTS, Adam, type NamedValues } from './adam.js';
import type { ControllerSettings } from './controller-settings.js';
import { disposeTrace, LstmNetwork, type LstmShape, type LstmTrace } from './lstm.js';
import { type ObjectiveSettings, type ShardBatch, type ShardGradients, shardGradientArrays } from './shard.js';
import { ShardPool } from './shard-pool.js';

export type Algorithm = 'ppo' | 'reinforce' | 'random';

export interface SampledBatch {
  choices: number[][];
  /** Log-probability of each sample under the policy that drew it. */
  logProbs: number[];
}

export interface UpdateStats {
  loss: number;
  entropy: number;
  baseline: number;
  meanReward: number;
}

export interface PolicyState {
  algorithm: Algorithm;
  updates: number;
  baseline: number | null;
  spread: number | null;
  weights: Record<string, number[]>;
  optimizer: NamedValues[];
}

export interface Policy {
  readonly algorithm: Algorithm;
  sample(count: number, seed: number): Promise<SampledBatch>;
  update(batch: SampledBatch, rewards: readonly number[]): Promise<UpdateStats>;
  /** The policy's most likely architecture (greedy decoding); null for a policy with no preference. */
  mostLikely(): number[] | null;
  getState(): Promise<PolicyState>;
  setState(state: PolicyState): Promise<void>;
  dispose(): void;
}

export class RandomPolicy implements Policy {
  readonly algorithm = 'random';
  private updates = 0;

  constructor(private readonly optionCounts: readonly number[]) {}

  async sample(count: number, seed: number): Promise<SampledBatch> {
    const rng = derive(seed, 'random-policy');
    const logProb = -this.optionCounts.reduce((s, k) => s + Math.log(k), 0);
    return {
      choices: Array.from({ length: count }, () => this.optionCounts.map((k) => Math.floor(rng() * k))),
      logProbs: Array(count).fill(logProb),
    };
  }

  async update(_batch: SampledBatch, rewards: readonly number[]): Promise<UpdateStats> {
    this.updates++;
    const meanReward = rewards.reduce((s, r) => s + r, 0) / Math.max(rewards.length, 1);
    return { loss: 0, entropy: this.optionCounts.reduce((s, k) => s + Math.log(k), 0), baseline: meanReward, meanReward };
  }

  mostLikely(): null {
    return null;
  }

  async getState(): Promise<PolicyState> {
    return { algorithm: 'random', updates: this.updates, baseline: null, spread: null, weights: {}, optimizer: [] };
  }

  async setState(state: PolicyState): Promise<void> {
    this.updates = state.updates;
  }

  dispose(): void {}
}

/** Batches are split across threads only when every thread gets at least this many sequences. */
export const MIN_SHARD = 256;

/** Contiguous [start, end) slices of a batch of `n`, one per thread used. */
export function shardRanges(n: number, threads: number): [number, number][] {
  const count = Math.max(1, Math.min(threads, Math.floor(n / MIN_SHARD)));
  return Array.from({ length: count }, (_, k) => [Math.round((k * n) / count), Math.round(((k + 1) * n) / count)]);
}

export class LstmPolicy implements Policy {
  private readonly network: LstmNetwork;
  private readonly optimizer: Adam;
  /** The weights as Adam steps them; the network (and every worker) gets a copy before each pass. */
  private weights: Record<string, Float32Array>;
  private readonly pool: ShardPool;
  private workerFailure: Error | null = null;
  /**
   * The batch drawn last, with the trace of its first shard (the others' stay on their workers):
   * the first epoch of its update uses them instead of forward passes.
   */
  private sampled: { batch: SampledBatch; trace: LstmTrace; onWorkers: boolean[] } | null = null;
  private baseline: number | null = null;
  private spread: number | null = null;
  private updates = 0;

  constructor(
    readonly algorithm: 'ppo' | 'reinforce',
    optionCounts: readonly number[],
    private readonly settings: ControllerSettings,
    seed: number,
    makePool: (shape: LstmShape) => ShardPool = (shape) => new ShardPool(shape),
  ) {
    const shape = { optionCounts, hidden: settings.hidden, embedding: settings.embedding };
    this.network = new LstmNetwork(shape, derive(seed, 'controller-init'));
    this.optimizer = new Adam({ ...ADAM_DEFAULTS, learningRate: settings.learningRate });
    this.weights = this.network.getWeights();
    this.pool = makePool(shape);
  }

  private shards(n: number): [number, number][] {
    return shardRanges(n, 1 + this.settings.workers);
  }

  async sample(count: number, seed: number): Promise<SampledBatch> {
    this.dropSampled();
    const ranges = this.shards(count);
    if (ranges.length === 1) {
      const { tokens, logProb, trace } = this.network.sampleWithTrace(count, derive(seed, 'multinomial'));
      const batch = { choices: tokens, logProbs: Array.from(logProb) };
      this.sampled = { batch, trace, onWorkers: [] };
      return batch;
    }
    const weights = this.weights;
    const onWorkers = ranges.slice(1).map(() => true);
    const remote = ranges.slice(1).map(([start, end], k) =>
      this.onWorker(
        () => this.pool.sample(k, weights, end - start, seed, k + 1),
        () => {
          onWorkers[k] = false;
          return this.network.sample(end - start, derive(seed, 'multinomial', k + 1));
        },
      ),
    );
    const local = this.network.sampleWithTrace(ranges[0]![1], derive(seed, 'multinomial', 0));
    const parts = [local, ...(await Promise.all(remote))];
    const batch = { choices: parts.flatMap((p) => p.tokens), logProbs: parts.flatMap((p) => Array.from(p.logProb)) };
    this.sampled = { batch, trace: local.trace, onWorkers };
    return batch;
  }

  mostLikely(): number[] {
    return this.network.mostLikely().tokens[0]!;
  }

  private dropSampled(): void {
    if (this.sampled) disposeTrace(this.sampled.trace);
    this.sampled = null;
  }

  async update(batch: SampledBatch, rewards: readonly number[]): Promise<UpdateStats> {
    const n = rewards.length;
    const meanReward = rewards.reduce((s, r) => s + r, 0) / n;
    const decay = this.settings.baselineDecay;
    if (this.baseline === null) this.baseline = meanReward;
    const deviation = Math.sqrt(rewards.reduce((s, r) => s + (r - this.baseline!) ** 2, 0) / n);
    this.spread = this.spread === null ? Math.max(deviation, 1e-6) : decay * this.spread + (1 - decay) * Math.max(deviation, 1e-6);
    const advantages = rewards.map((r) => (r - this.baseline!) / this.spread!);
    const baselineUsed = this.baseline;
    const objective: ObjectiveSettings = {
      algorithm: this.algorithm,
      clip: this.settings.clip,
      entropyWeight: this.settings.entropyWeight,
    };
    const shards: ShardBatch[] = this.shards(n).map(([start, end]) => ({
      tokens: batch.choices.slice(start, end),
      oldLogProbs: batch.logProbs.slice(start, end),
      advantages: advantages.slice(start, end),
      batchSize: n,
    }));
    let loss = 0;
    let entropy = 0;
    const epochs = this.algorithm === 'ppo' ? this.settings.epochs : 1;
    let sampled = this.sampled?.batch === batch ? this.sampled : null;
    if (!sampled) this.dropSampled();
    this.sampled = null;
    for (let e = 0; e < epochs; e++) {
      const result = await this.batchGradients(shards, objective, sampled);
      sampled = null;
      entropy = result.entropySum / n;
      loss = -result.objective - this.settings.entropyWeight * entropy;
      this.optimizer.step(this.weights, result.grads);
      this.network.setWeights(this.weights);
    }
    this.baseline = decay * this.baseline + (1 - decay) * meanReward;
    this.updates++;
    return { loss, entropy, baseline: baselineUsed, meanReward };
  }

  /**
   * A shard's work on a worker thread or, once a worker has failed (a backend that does not load
   * in a thread, a crash), here: same seeds and weights, so the same result, only slower.
   */
  private async onWorker<T>(remote: () => Promise<T>, here: () => T): Promise<T> {
    if (this.workerFailure) return here();
    try {
      return await remote();
    } catch (err) {
      this.workerFailure = err as Error;
      process.emitWarning(`controller shard workers disabled, shards run on the main thread: ${this.workerFailure.message}`);
      return here();
    }
  }

  /**
   * The whole batch's gradients, summed here: the first shard's computed here, the others' on the
   * shard workers. `sampled`: the batch is the one drawn last and the weights have not changed since.
   */
  private async batchGradients(
    shards: ShardBatch[],
    objective: ObjectiveSettings,
    sampled: LstmPolicy['sampled'],
  ): Promise<ShardGradients<Float32Array>> {
    const weights = this.weights;
    const remote = shards.slice(1).map((shard, k) =>
      this.onWorker(
        () => this.pool.gradients(k, weights, shard, objective, sampled?.onWorkers[k] ?? false),
        () => shardGradientArrays(this.network, shard, objective),
      ),
    );
    const local = shardGradientArrays(this.network, shards[0]!, objective, sampled?.trace);
    const others = await Promise.all(remote);
    for (const [key, sum] of Object.entries(local.grads)) {
      for (const other of others) {
        const g = other.grads[key]!;
        for (let i = 0; i < sum.length; i++) sum[i]! += g[i]!;
      }
    }
    return {
      grads: local.grads,
      objective: others.reduce((s, o) => s + o.objective, local.objective),
      entropySum: others.reduce((s, o) => s + o.entropySum, local.entropySum),
    };
  }

  async getState(): Promise<PolicyState> {
    const weights = Object.fromEntries(Object.entries(this.weights).map(([name, values]) => [name, Array.from(values)]));
    const shapes = Object.fromEntries([...this.network.variables].map(([key, v]) => [key, v.shape]));
    return {
      algorithm: this.algorithm,
      updates: this.updates,
      baseline: this.baseline,
      spread: this.spread,
      weights,
      optimizer: this.optimizer.getState(shapes),
    };
  }

  async setState(state: PolicyState): Promise<void> {
    this.dropSampled();
    this.network.setWeights(state.weights, 'controller state');
    this.weights = this.network.getWeights();
    this.optimizer.setState(state.optimizer, [...this.network.variables.keys()], 'controller state');
    this.updates = state.updates;
    this.baseline = state.baseline;
    this.spread = state.spread;
  }

  dispose(): void {
    this.dropSampled();
    this.pool.dispose();
    this.network.dispose();
  }
}

export function createPolicy(algorithm: Algorithm, optionCounts: readonly number[], settings: ControllerSettings, seed: number): Policy {
  return algorithm === 'random' ? new RandomPolicy(optionCounts) : new LstmPolicy(algorithm, optionCounts, settings, seed);
}
