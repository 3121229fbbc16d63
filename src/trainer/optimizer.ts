/**
 * RMSProp (TensorFlow's form, the paper's optimizer) and SGD with momentum, as one JS loop per
 * variable instead of ~10 tfjs kernels per variable: the update runs on views of the backend's
 * memory and its state lives in plain Float32Arrays, which also makes it easy to checkpoint.
 *
 * L2 weight decay adds `weightDecay * w` to the gradient of decayed variables (conv and dense
 * kernels; not biases or BN parameters).
 */
import { computeTensor } from './heap.js';
import type { tf } from './tf.js';

export type OptimizerKind = 'rmsprop' | 'sgd';

export interface OptimizerSettings {
  kind: OptimizerKind;
  momentum: number;
  /** RMSProp decay of the mean square. */
  rho: number;
  epsilon: number;
  weightDecay: number;
}

export const DEFAULT_OPTIMIZER: Record<OptimizerKind, OptimizerSettings> = {
  rmsprop: { kind: 'rmsprop', momentum: 0.9, rho: 0.9, epsilon: 1e-3, weightDecay: 1e-5 },
  sgd: { kind: 'sgd', momentum: 0.9, rho: 0, epsilon: 0, weightDecay: 4e-5 },
};

/** Weights that take weight decay: convolution and dense kernels. */
export function isDecayedWeight(name: string): boolean {
  return /(^|\/)(kernel|depthwise_kernel|reduce_kernel|expand_kernel)(_\d+)?$/.test(name);
}

export interface OptimizerState {
  kind: OptimizerKind;
  /** Per variable (by original weight name): its slot arrays (RMSProp: mean square, momentum). */
  slots: Record<string, number[][]>;
}

/** What the optimizer updates: a tfjs-layers weight, or anything that reads and writes like one. */
export interface OptimizedVariable {
  readonly originalName: string;
  readonly shape: readonly (number | null)[];
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
}

interface Slot {
  variable: OptimizedVariable;
  decay: number;
  meanSquare: Float32Array;
  momentum: Float32Array;
}

export class Optimizer {
  private readonly slots: Slot[];

  constructor(
    variables: readonly OptimizedVariable[],
    readonly settings: OptimizerSettings,
  ) {
    this.slots = variables.map((variable) => {
      const size = variable.shape.reduce((a: number, b) => a * (b ?? 1), 1);
      return {
        variable,
        decay: isDecayedWeight(variable.originalName) ? settings.weightDecay : 0,
        meanSquare: new Float32Array(settings.kind === 'rmsprop' ? size : 0),
        momentum: new Float32Array(size),
      };
    });
  }

  /**
   * Applies one update; `grads[i]` is the gradient of the i-th variable. A variable without a
   * gradient (a weight the step did not use, e.g. another path of a supernet) is left as it is,
   * its slots too.
   */
  apply(grads: readonly (tf.Tensor | undefined)[], learningRate: number): void {
    const { kind, momentum: mu, rho, epsilon } = this.settings;
    this.slots.forEach((slot, i) => {
      const grad = grads[i];
      if (!grad) return;
      const current = slot.variable.read();
      const { decay, meanSquare, momentum } = slot;
      const updated = computeTensor([...grad.shape], [current, grad], (w, [w0, g]) => {
        const n = w.length;
        if (kind === 'rmsprop') {
          for (let j = 0; j < n; j++) {
            const gj = g![j]! + decay * w0![j]!;
            const ms = rho * meanSquare[j]! + (1 - rho) * gj * gj;
            meanSquare[j] = ms;
            const m = mu * momentum[j]! + (learningRate * gj) / Math.sqrt(ms + epsilon);
            momentum[j] = m;
            w[j] = w0![j]! - m;
          }
        } else {
          for (let j = 0; j < n; j++) {
            const gj = g![j]! + decay * w0![j]!;
            const m = mu * momentum[j]! + gj;
            momentum[j] = m;
            w[j] = w0![j]! - learningRate * m;
          }
        }
      });
      slot.variable.write(updated);
      updated.dispose();
    });
  }

  getState(): OptimizerState {
    const slots: Record<string, number[][]> = {};
    for (const s of this.slots) slots[s.variable.originalName] = [Array.from(s.meanSquare), Array.from(s.momentum)];
    return { kind: this.settings.kind, slots };
  }

  /** Binary form for checkpoints: all slot arrays concatenated, in variable order. */
  exportSlots(): Float32Array[] {
    return this.slots.flatMap((s) => [s.meanSquare, s.momentum]);
  }

  importSlots(arrays: readonly Float32Array[]): void {
    if (arrays.length !== this.slots.length * 2)
      throw new Error(`optimizer state has ${arrays.length / 2} variables, the model ${this.slots.length}`);
    this.slots.forEach((s, i) => {
      const [ms, mom] = [arrays[2 * i]!, arrays[2 * i + 1]!];
      if (ms.length !== s.meanSquare.length || mom.length !== s.momentum.length)
        throw new Error(`optimizer state of ${s.variable.originalName} has the wrong size`);
      s.meanSquare.set(ms);
      s.momentum.set(mom);
    });
  }
}
