/**
 * Controllers: an LSTM policy (tfjs) that emits one token per choice point, fed the embedding of
 * the previous token, trained with REINFORCE (moving-average baseline, entropy bonus) or PPO
 * (clipped objective, as MnasNet); and uniform random search as the baseline. All sampling is
 * seeded: tokens come from tf.multinomial with seeds derived from the batch seed.
 *
 * Advantages are R - b with b the moving average of rewards, divided by a moving estimate of the
 * reward spread so the learning rate does not depend on the reward's scale (accuracies differ by
 * a few hundredths between children).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { derive, nextSeed } from '../common/rng.js';

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
  private readonly variables: Map<string, tf.Variable>;
  private readonly optimizer: tf.AdamOptimizer;
  private baseline: number | null = null;
  private spread: number | null = null;
  private updates = 0;

  constructor(
    readonly algorithm: 'ppo' | 'reinforce',
    private readonly optionCounts: readonly number[],
    private readonly settings: ControllerSettings,
    seed: number,
  ) {
    const { hidden: H, embedding: E } = settings;
    const rng = derive(seed, 'controller-init');
    const init = (shape: number[], scale: number) => tf.variable(tf.randomUniform(shape, -scale, scale, 'float32', nextSeed(rng)));
    this.variables = new Map<string, tf.Variable>();
    this.variables.set('start', init([1, E], 0.1));
    this.variables.set('lstm_kernel', init([E + H, 4 * H], Math.sqrt(6 / (E + 5 * H))));
    this.variables.set('lstm_bias', tf.variable(tf.zeros([4 * H])));
    optionCounts.forEach((k, t) => {
      this.variables.set(`head_${t}_kernel`, init([H, k], 0.1));
      this.variables.set(`head_${t}_bias`, tf.variable(tf.zeros([k])));
      if (t + 1 < optionCounts.length) this.variables.set(`embedding_${t}`, init([k, E], 0.1));
    });
    this.optimizer = tf.train.adam(settings.learningRate);
  }

  private v(name: string): tf.Variable {
    return this.variables.get(name)!;
  }

  private cell(x: tf.Tensor2D, h: tf.Tensor2D, c: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
    const H = this.settings.hidden;
    const gates = tf.add(tf.matMul(tf.concat([x, h], 1), this.v('lstm_kernel') as tf.Tensor2D), this.v('lstm_bias')) as tf.Tensor2D;
    const [i, f, g, o] = tf.split(gates, [H, H, H, H], 1) as tf.Tensor2D[];
    const nextC = tf.add(tf.mul(tf.sigmoid(tf.add(f!, 1)), c), tf.mul(tf.sigmoid(i!), tf.tanh(g!))) as tf.Tensor2D;
    return [tf.mul(tf.sigmoid(o!), tf.tanh(nextC)) as tf.Tensor2D, nextC];
  }

  /**
   * Runs the policy over `count` sequences. With `tokens` given ([count, T] int32) it follows them
   * (teacher forcing); otherwise it draws each token. Returns the tokens, the summed log-probability
   * of each sequence and the mean entropy per sequence.
   */
  private unroll(count: number, tokens: tf.Tensor2D | null, seed: number) {
    const rng = derive(seed, 'multinomial');
    let h = tf.zeros([count, this.settings.hidden]) as tf.Tensor2D;
    let c = tf.zeros([count, this.settings.hidden]) as tf.Tensor2D;
    let x = tf.tile(this.v('start'), [count, 1]) as unknown as tf.Tensor2D;
    let logProb: tf.Tensor1D = tf.zeros([count]);
    let entropy: tf.Tensor = tf.scalar(0);
    const drawn: tf.Tensor1D[] = [];
    this.optionCounts.forEach((k, t) => {
      [h, c] = this.cell(x, h, c);
      const logits = tf.add(tf.matMul(h, this.v(`head_${t}_kernel`) as tf.Tensor2D), this.v(`head_${t}_bias`)) as tf.Tensor2D;
      const logp = tf.logSoftmax(logits);
      const token = tokens ? (tf.squeeze(tf.slice(tokens, [0, t], [count, 1]), [1]) as tf.Tensor1D) : (tf.squeeze(tf.multinomial(logits, 1, nextSeed(rng)), [1]) as tf.Tensor1D);
      drawn.push(token);
      logProb = tf.add(logProb, tf.sum(tf.mul(logp, tf.oneHot(token, k)), 1));
      entropy = tf.add(entropy, tf.neg(tf.mean(tf.sum(tf.mul(tf.exp(logp), logp), 1))));
      if (t + 1 < this.optionCounts.length) x = tf.gather(this.v(`embedding_${t}`), token) as unknown as tf.Tensor2D;
    });
    return { tokens: tf.stack(drawn, 1) as tf.Tensor2D, logProb, entropy: entropy as tf.Scalar };
  }

  sample(count: number, seed: number): SampledBatch {
    return tf.tidy(() => {
      const { tokens, logProb } = this.unroll(count, null, seed);
      const values = tokens.arraySync() as number[][];
      return { choices: values, logProbs: Array.from(logProb.dataSync()) };
    });
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
    tf.tidy(() => {
      const tokens = tf.tensor2d(batch.choices, [n, this.optionCounts.length], 'int32');
      const advantage = tf.tensor1d(advantages);
      const oldLogProb = tf.tensor1d(batch.logProbs);
      const vars = [...this.variables.values()];
      const epochs = this.algorithm === 'ppo' ? this.settings.epochs : 1;
      for (let e = 0; e < epochs; e++) {
        const cost = this.optimizer.minimize(() => {
          const out = this.unroll(n, tokens, 0);
          entropy = out.entropy.dataSync()[0]!;
          const bonus = tf.mul(out.entropy, this.settings.entropyWeight);
          if (this.algorithm === 'reinforce') return tf.sub(tf.neg(tf.mean(tf.mul(out.logProb, advantage))), bonus) as tf.Scalar;
          const ratio = tf.exp(tf.sub(out.logProb, oldLogProb));
          const clipped = tf.clipByValue(ratio, 1 - this.settings.clip, 1 + this.settings.clip);
          return tf.sub(tf.neg(tf.mean(tf.minimum(tf.mul(ratio, advantage), tf.mul(clipped, advantage)))), bonus) as tf.Scalar;
        }, true, vars);
        loss = cost!.dataSync()[0]!;
      }
    });
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
    for (const v of this.variables.values()) v.dispose();
    this.optimizer.dispose();
  }
}

export function createPolicy(algorithm: Algorithm, optionCounts: readonly number[], settings: ControllerSettings, seed: number): Policy {
  return algorithm === 'random' ? new RandomPolicy(optionCounts) : new LstmPolicy(algorithm, optionCounts, settings, seed);
}
