/**
 * Exponential moving average of the trainable weights (the paper evaluates with decay 0.9998).
 * The decay ramps up as min(decay, (1 + step) / (10 + step)) so short runs are not dominated by
 * the initial weights.
 */
import { computeTensor, readTensors } from './heap.js';
import { tf } from './tf.js';

export class WeightAverage {
  private readonly shadows: Float32Array[];
  private saved: tf.Tensor[] | null = null;

  constructor(
    private readonly variables: readonly tf.LayerVariable[],
    private readonly decay: number,
  ) {
    this.shadows = variables.map((v) => readTensors([v.read()], ([values]) => Float32Array.from(values!)));
  }

  update(step: number): void {
    const d = Math.min(this.decay, (1 + step) / (10 + step));
    this.variables.forEach((v, i) => {
      const shadow = this.shadows[i]!;
      readTensors([v.read()], ([w]) => {
        for (let j = 0; j < shadow.length; j++) shadow[j] = d * shadow[j]! + (1 - d) * w![j]!;
      });
    });
  }

  /** Replaces the weights by their averages (for good). */
  swapIn(): void {
    this.variables.forEach((v, i) => {
      const shadow = this.shadows[i]!;
      const t = computeTensor(v.shape as number[], [], (out) => out.set(shadow));
      v.write(t);
      t.dispose();
    });
  }

  /** Runs `fn` with the averaged weights in place, then restores the current ones. */
  withAverage<T>(fn: () => T): T {
    this.saved = this.variables.map((v) => tf.clone(v.read()));
    this.swapIn();
    try {
      return fn();
    } finally {
      this.variables.forEach((v, i) => {
        v.write(this.saved![i]!);
      });
      tf.dispose(this.saved);
      this.saved = null;
    }
  }

  exportSlots(): Float32Array[] {
    return this.shadows;
  }

  importSlots(slots: readonly Float32Array[]): void {
    if (slots.length !== this.shadows.length) throw new Error(`EMA state has ${slots.length} variables, the model ${this.shadows.length}`);
    slots.forEach((s, i) => {
      this.shadows[i]!.set(s);
    });
  }
}
