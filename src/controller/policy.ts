/**
 * Controllers: an LSTM policy (tfjs, ./lstm.ts) that emits one token per choice point, fed the
 * embedding of the previous token, trained with REINFORCE (moving-average baseline, entropy bonus)
 * or PPO (clipped objective, as MnasNet); and uniform random search as the baseline. All sampling
 * is seeded: tokens come from tf.multinomial with seeds derived from the batch seed.
 *
 * Advantages are R - b with b the moving average of rewards, divided by a moving estimate of the
 * reward spread so the learning rate does not depend on the reward's scale (accuracies differ by
 * a few hundredths between children).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { derive } from '../common/rng.js';
import { disposeTrace, LstmNetwork } from './lstm.js';

export const ControllerSettingsSchema = z.strictObject({
  hidden: z.int().positive(),
  embedding: z.int().positive(),
  learningRate: z.number().positive(),
  entropyWeight: z.number().min(0),
  baselineDecay: z.number().min(0).lt(1),
  /** PPO only: clip range and optimisation epochs per batch. */
  clip: z.number().positive(),
  epochs: z.int().positive(),
});
export type ControllerSettings = z.infer<typeof ControllerSettingsSchema>;

export const DEFAULT_CONTROLLER: ControllerSettings = {
  hidden: 64,
  embedding: 32,
  learningRate: 0.01,
  entropyWeight: 1e-3,
  baselineDecay: 0.8,
  clip: 0.2,
  epochs: 4,
};

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
  optimizer: { name: string; values: number[]; shape: number[] }[];
}

export interface Policy {
  readonly algorithm: Algorithm;
  sample(count: number, seed: number): SampledBatch;
  update(batch: SampledBatch, rewards: readonly number[]): UpdateStats;
  getState(): Promise<PolicyState>;
  setState(state: PolicyState): Promise<void>;
  dispose(): void;
}

export class RandomPolicy implements Policy {
  readonly algorithm = 'random';
  private updates = 0;

  constructor(private readonly optionCounts: readonly number[]) {}

  sample(count: number, seed: number): SampledBatch {
    const rng = derive(seed, 'random-policy');
    const logProb = -this.optionCounts.reduce((s, k) => s + Math.log(k), 0);
    return {
      choices: Array.from({ length: count }, () => this.optionCounts.map((k) => Math.floor(rng() * k))),
      logProbs: Array(count).fill(logProb),
    };
  }

  update(_batch: SampledBatch, rewards: readonly number[]): UpdateStats {
    this.updates++;
    const meanReward = rewards.reduce((s, r) => s + r, 0) / Math.max(rewards.length, 1);
    return { loss: 0, entropy: this.optionCounts.reduce((s, k) => s + Math.log(k), 0), baseline: meanReward, meanReward };
  }

  async getState(): Promise<PolicyState> {
    return { algorithm: 'random', updates: this.updates, baseline: null, spread: null, weights: {}, optimizer: [] };
  }

  async setState(state: PolicyState): Promise<void> {
    this.updates = state.updates;
  }

  dispose(): void {}
}

export class LstmPolicy implements Policy {
  private readonly network: LstmNetwork;
  private readonly optimizer: tf.AdamOptimizer;
  private baseline: number | null = null;
  private spread: number | null = null;
  private updates = 0;

  constructor(
    readonly algorithm: 'ppo' | 'reinforce',
    optionCounts: readonly number[],
    private readonly settings: ControllerSettings,
    seed: number,
  ) {
    this.network = new LstmNetwork({ optionCounts, hidden: settings.hidden, embedding: settings.embedding }, derive(seed, 'controller-init'));
    this.optimizer = tf.train.adam(settings.learningRate);
  }

  private get variables(): Map<string, tf.Variable> {
    return this.network.variables;
  }

  sample(count: number, seed: number): SampledBatch {
    const { tokens, logProb } = this.network.sample(count, derive(seed, 'multinomial'));
    return { choices: tokens, logProbs: Array.from(logProb) };
  }

  update(batch: SampledBatch, rewards: readonly number[]): UpdateStats {
    const n = rewards.length;
    const meanReward = rewards.reduce((s, r) => s + r, 0) / n;
    const decay = this.settings.baselineDecay;
    if (this.baseline === null) this.baseline = meanReward;
    const deviation = Math.sqrt(rewards.reduce((s, r) => s + (r - this.baseline!) ** 2, 0) / n);
    this.spread = this.spread === null ? Math.max(deviation, 1e-6) : decay * this.spread + (1 - decay) * Math.max(deviation, 1e-6);
    const advantages = rewards.map((r) => (r - this.baseline!) / this.spread!);
    const baselineUsed = this.baseline;
    let loss = 0;
    let entropy = 0;
    const epochs = this.algorithm === 'ppo' ? this.settings.epochs : 1;
    for (let e = 0; e < epochs; e++) {
      const trace = this.network.forward(batch.choices);
      try {
        const objective = this.algorithm === 'ppo' ? ppoObjective(trace.logProb, batch.logProbs, advantages, this.settings.clip) : reinforceObjective(trace.logProb, advantages);
        entropy = trace.entropy.reduce((s, x) => s + x, 0) / n;
        loss = -objective.value - this.settings.entropyWeight * entropy;
        const grads = this.network.gradients(trace, objective.gradient.map((g) => -g), this.settings.entropyWeight);
        this.optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
        tf.dispose(Object.values(grads));
      } finally {
        disposeTrace(trace);
      }
    }
    this.baseline = decay * this.baseline + (1 - decay) * meanReward;
    this.updates++;
    return { loss, entropy, baseline: baselineUsed, meanReward };
  }

  async getState(): Promise<PolicyState> {
    const weights: Record<string, number[]> = {};
    for (const [name, v] of this.variables) weights[name] = Array.from(v.dataSync());
    const optimizer = await Promise.all(
      (await this.optimizer.getWeights()).map(async (w) => ({ name: w.name, values: Array.from(await w.tensor.data()), shape: w.tensor.shape })),
    );
    return { algorithm: this.algorithm, updates: this.updates, baseline: this.baseline, spread: this.spread, weights, optimizer };
  }

  async setState(state: PolicyState): Promise<void> {
    for (const [name, v] of this.variables) {
      const values = state.weights[name];
      if (!values || values.length !== v.size) throw new Error(`controller state has no matching weight ${name}`);
      v.assign(tf.tensor(values, v.shape));
    }
    if (state.optimizer.length) {
      // Adam's slots exist once it has run; create them with a zero-gradient step first.
      if ((await this.optimizer.getWeights()).length <= 1) {
        this.optimizer.applyGradients(Object.fromEntries([...this.variables].map(([, v]) => [v.name, tf.zerosLike(v)])));
      }
      const current = await this.optimizer.getWeights();
      const byName = new Map(state.optimizer.map((w) => [w.name, w]));
      await this.optimizer.setWeights(
        current.map((w, i) => {
          const saved = byName.get(w.name) ?? state.optimizer[i];
          return { name: w.name, tensor: saved ? tf.tensor(saved.values, saved.shape) : w.tensor };
        }),
      );
    }
    this.updates = state.updates;
    this.baseline = state.baseline;
    this.spread = state.spread;
  }

  dispose(): void {
    this.network.dispose();
    this.optimizer.dispose();
  }
}

interface Objective {
  /** Mean objective over the batch (to maximise). */
  value: number;
  /** Its derivative with respect to each sequence's log-probability. */
  gradient: Float32Array;
}

/** mean(A * log pi). */
function reinforceObjective(logProb: Float32Array, advantages: readonly number[]): Objective {
  const n = logProb.length;
  const value = logProb.reduce((s, lp, i) => s + advantages[i]! * lp, 0) / n;
  return { value, gradient: Float32Array.from(advantages, (a) => a / n) };
}

/**
 * PPO's clipped surrogate, mean(min(r A, clip(r, 1 - eps, 1 + eps) A)) with r = pi / pi_old.
 * Where the clipped term is the smaller one, r lies outside the clip range and the term is flat.
 */
function ppoObjective(logProb: Float32Array, oldLogProb: readonly number[], advantages: readonly number[], clip: number): Objective {
  const n = logProb.length;
  const gradient = new Float32Array(n);
  let value = 0;
  for (let i = 0; i < n; i++) {
    const ratio = Math.exp(logProb[i]! - oldLogProb[i]!);
    const a = advantages[i]!;
    const unclipped = ratio * a;
    const clipped = Math.min(Math.max(ratio, 1 - clip), 1 + clip) * a;
    value += Math.min(unclipped, clipped) / n;
    if (unclipped <= clipped) gradient[i] = unclipped / n;
  }
  return { value, gradient };
}

export function createPolicy(algorithm: Algorithm, optionCounts: readonly number[], settings: ControllerSettings, seed: number): Policy {
  return algorithm === 'random' ? new RandomPolicy(optionCounts) : new LstmPolicy(algorithm, optionCounts, settings, seed);
}
