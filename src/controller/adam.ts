/**
 * Adam over the controller's weights as plain arrays. The controller has ~150 small weight
 * tensors; tfjs' optimizer spends ~10 kernels on each per step (tens of milliseconds a step),
 * while the arithmetic is a few thousand multiply-adds in a loop. Same rule as
 * tf.train.adam: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
 * w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), t counting from 1.
 */

export interface AdamSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** The optimizer's state as checkpoints store it (the layout tfjs' optimizers use for their weights). */
export interface NamedValues {
  name: string;
  values: number[];
  shape: number[];
}

/** tfjs' defaults (epsilon is its float32 backend epsilon). */
export const ADAM_DEFAULTS: Omit<AdamSettings, 'learningRate'> = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

export class Adam {
  private iterations = 0;
  private readonly first = new Map<string, Float64Array>();
  private readonly second = new Map<string, Float64Array>();

  constructor(private readonly settings: AdamSettings) {}

  /** One step: updates `weights` in place from `grads` (same keys and sizes). */
  step(weights: Record<string, Float32Array>, grads: Record<string, ArrayLike<number>>): void {
    const { learningRate, beta1, beta2, epsilon } = this.settings;
    this.iterations++;
    const correction1 = 1 - beta1 ** this.iterations;
    const correction2 = 1 - beta2 ** this.iterations;
    for (const [key, w] of Object.entries(weights)) {
      const g = grads[key];
      if (!g || g.length !== w.length) throw new Error(`Adam: no gradient of ${w.length} values for weight ${key}`);
      const m = this.moment(this.first, key, w.length);
      const v = this.moment(this.second, key, w.length);
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * gi;
        v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
        w[i] = w[i]! - (learningRate * (m[i]! / correction1)) / (Math.sqrt(v[i]! / correction2) + epsilon);
      }
    }
  }

  private moment(moments: Map<string, Float64Array>, key: string, size: number): Float64Array {
    let values = moments.get(key);
    if (!values) {
      values = new Float64Array(size);
      moments.set(key, values);
    }
    return values;
  }

  /** `iter`, then `<weight>/m` and `<weight>/v` of every weight stepped so far. */
  getState(shapes: Record<string, number[]>): NamedValues[] {
    if (this.iterations === 0) return [];
    const entries = (moments: Map<string, Float64Array>, suffix: string) =>
      [...moments].map(([key, values]) => ({
        name: `${key}/${suffix}`,
        values: Array.from(values),
        shape: shapes[key] ?? [values.length],
      }));
    return [{ name: 'iter', values: [this.iterations], shape: [] }, ...entries(this.first, 'm'), ...entries(this.second, 'v')];
  }

  /**
   * Restores getState()'s output. Checkpoints written with tfjs' optimizer name moments after
   * per-process variable names, in `order` (the weights' order): those are read by position.
   */
  setState(state: readonly NamedValues[], order: readonly string[], source: string): void {
    this.first.clear();
    this.second.clear();
    this.iterations = 0;
    if (!state.length) return;
    const [iter, ...moments] = state;
    if (iter?.name !== 'iter' || !Number.isInteger(iter.values[0]))
      throw new Error(`${source}: the optimizer state does not start with its iteration count`);
    this.iterations = iter.values[0]!;
    if (moments.length !== 2 * order.length)
      throw new Error(`${source}: the optimizer state has ${moments.length} moments for ${order.length} weights`);
    const byName = moments.every((m) => /\/[mv]$/.test(m.name) && order.includes(m.name.slice(0, -2)));
    moments.forEach((entry, i) => {
      const [key, suffix] = byName
        ? [entry.name.slice(0, -2), entry.name.slice(-1)]
        : [order[i % order.length]!, i < order.length ? 'm' : 'v'];
      (suffix === 'm' ? this.first : this.second).set(key, Float64Array.from(entry.values));
    });
  }
}
