/**
 * The controller's network: a one-layer LSTM that emits one token per choice point, fed the
 * embedding of the previous token (a learned start vector at step 0), with one softmax head per
 * choice point. The forward and backward passes are written out by hand in tfjs ops instead of
 * going through autodiff, for speed: autodiff records ~60 small kernels per step and computes the
 * weight gradients step by step, while here
 *
 * - the input projection of every embedding row is computed once per pass (a table P, [rows, 4H],
 *   with the bias folded in), so a step gathers its input term instead of multiplying;
 * - the four gates come from one sigmoid (tanh(x) = 2 sigmoid(2x) - 1; the backend's tanh is
 *   several times slower than its sigmoid);
 * - the input-side gradients (embeddings, input kernel, bias) come from the gradient of that small
 *   table, summed over steps, through two small products.
 *
 * Weights keep the names and layouts of a plain LSTM (kernel [E + H, 4H] with gates i, f, g, o;
 * forget-gate bias offset +1), so checkpoints stay readable. test/controller-lstm.test.ts checks the
 * gradients against tfjs autodiff of the same loss.
 */
import * as tf from '@tensorflow/tfjs';
import { nextSeed } from '../common/rng.js';

export interface LstmShape {
  optionCounts: readonly number[];
  hidden: number;
  embedding: number;
}

/** Kept from a teacher-forced pass for the backward pass; dispose() frees it. */
export interface LstmTrace {
  /** Summed log-probability of each sequence. */
  logProb: Float32Array;
  /** Entropy of each sequence (summed over its steps). */
  entropy: Float32Array;
  readonly tensors: tf.Tensor[];
}

interface Step {
  hPrev: tf.Tensor2D | null;
  cPrev: tf.Tensor2D | null;
  i: tf.Tensor2D;
  f: tf.Tensor2D;
  g: tf.Tensor2D;
  o: tf.Tensor2D;
  tanhC: tf.Tensor2D;
  /** d(gate activations)/d(gate pre-activations), [n, 4H]. */
  slope: tf.Tensor2D;
  h: tf.Tensor2D;
  p: tf.Tensor2D;
  logp: tf.Tensor2D;
  chosen: tf.Tensor2D;
  entropy: tf.Tensor1D;
}

export interface SampledSequences {
  tokens: number[][];
  /** Summed log-probability of each sequence. */
  logProb: Float32Array;
}

interface Trace extends LstmTrace {
  steps: Step[];
  count: number;
}

const GATES = 4;

/** 2 sigmoid(2x) - 1. */
function tanhViaSigmoid(x: tf.Tensor2D): tf.Tensor2D {
  return tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2)), 2), 1);
}

export class LstmNetwork {
  readonly variables = new Map<string, tf.Variable>();
  /** First row of each step's input in the input table: step 0 reads row 0 (the start vector). */
  private readonly rowOffset: number[];
  /** Pre-activation scale (2 on the g gate, for tanh via sigmoid) and the matching slope factor. */
  private readonly gateScale: tf.Tensor1D;
  private readonly slopeScale: tf.Tensor1D;
  private readonly forgetOffset: tf.Tensor1D;

  constructor(
    private readonly shape: LstmShape,
    rng: () => number,
  ) {
    const { hidden: H, embedding: E, optionCounts } = shape;
    const init = (dims: number[], scale: number) => tf.variable(tf.randomUniform(dims, -scale, scale, 'float32', nextSeed(rng)));
    this.variables.set('start', init([1, E], 0.1));
    this.variables.set('lstm_kernel', init([E + H, GATES * H], Math.sqrt(6 / (E + 5 * H))));
    this.variables.set('lstm_bias', tf.variable(tf.zeros([GATES * H])));
    optionCounts.forEach((k, t) => {
      this.variables.set(`head_${t}_kernel`, init([H, k], 0.1));
      this.variables.set(`head_${t}_bias`, tf.variable(tf.zeros([k])));
      if (t + 1 < optionCounts.length) this.variables.set(`embedding_${t}`, init([k, E], 0.1));
    });
    this.rowOffset = [0];
    for (let t = 0; t + 1 < optionCounts.length; t++) this.rowOffset.push(1 + optionCounts.slice(0, t).reduce((s, k) => s + k, 0));
    const block = (values: number[]) => tf.tensor1d(values.flatMap((v) => Array<number>(H).fill(v)));
    this.gateScale = block([1, 1, 2, 1]);
    this.slopeScale = block([1, 1, 4, 1]);
    this.forgetOffset = block([0, 1, 0, 0]);
  }

  private v(name: string): tf.Variable {
    return this.variables.get(name)!;
  }

  /** The start vector and every embedding table stacked: [rows, E]. */
  private inputRows(): tf.Tensor2D {
    const parts: tf.Tensor2D[] = [this.v('start') as tf.Tensor2D];
    for (let t = 0; t + 1 < this.shape.optionCounts.length; t++) parts.push(this.v(`embedding_${t}`) as tf.Tensor2D);
    return tf.concat(parts, 0);
  }

  private weights() {
    const { hidden: H, embedding: E } = this.shape;
    const kernel = this.v('lstm_kernel') as tf.Tensor2D;
    const inputKernel = tf.slice(kernel, [0, 0], [E, GATES * H]);
    const recurrentKernel = tf.slice(kernel, [E, 0], [H, GATES * H]);
    const rows = this.inputRows();
    const inputTable = tf.add(tf.add(tf.matMul(rows, inputKernel), this.v('lstm_bias')), this.forgetOffset) as tf.Tensor2D;
    return { inputKernel, recurrentKernel, rows, inputTable };
  }

  /** One LSTM step; `slope` only when the caller will differentiate. */
  private cell(inputTable: tf.Tensor2D, recurrentKernel: tf.Tensor2D, rows: tf.Tensor1D, h: tf.Tensor2D | null, c: tf.Tensor2D | null, withSlope: boolean) {
    let pre = tf.gather(inputTable, rows) as tf.Tensor2D;
    if (h) pre = tf.add(pre, tf.matMul(h, recurrentKernel));
    const s = tf.sigmoid(tf.mul(pre, this.gateScale)) as tf.Tensor2D;
    const [i, f, sg, o] = tf.split(s, GATES, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const g = tf.sub(tf.mul(sg, 2), 1) as tf.Tensor2D;
    const cNext = (c ? tf.add(tf.mul(f, c), tf.mul(i, g)) : tf.mul(i, g)) as tf.Tensor2D;
    const tanhC = tanhViaSigmoid(cNext);
    const hNext = tf.mul(o, tanhC) as tf.Tensor2D;
    const slope = withSlope ? (tf.mul(tf.mul(s, tf.sub(1, s)), this.slopeScale) as tf.Tensor2D) : null;
    return { i, f, g, o, c: cNext, tanhC, h: hNext, slope };
  }

  private logits(t: number, h: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(h, this.v(`head_${t}_kernel`) as tf.Tensor2D), this.v(`head_${t}_bias`));
  }

  /** Draws `count` sequences (seeded); returns the tokens and each sequence's log-probability. */
  sample(count: number, rng: () => number): SampledSequences {
    return this.pass({ draw: count, rng }, false);
  }

  /**
   * sample(), keeping what the backward pass needs: the trace a forward pass over the drawn tokens
   * would give (the same kernels on the same inputs), so the first update after sampling needs no
   * forward pass of its own. Dispose the trace after.
   */
  sampleWithTrace(count: number, rng: () => number): SampledSequences & { trace: LstmTrace } {
    const result = this.pass({ draw: count, rng }, true);
    return { tokens: result.tokens, logProb: result.logProb, trace: result.trace! };
  }

  /** Follows the given token sequences, keeping what the backward pass needs (dispose it after). */
  forward(tokens: readonly (readonly number[])[]): LstmTrace {
    return this.pass({ follow: tokens }, true).trace!;
  }

  /** One pass over the steps, drawing each token or following the given ones. */
  private pass(input: { draw: number; rng: () => number } | { follow: readonly (readonly number[])[] }, keepTrace: boolean): SampledSequences & { trace: Trace | null } {
    const { optionCounts } = this.shape;
    const n = 'draw' in input ? input.draw : input.follow.length;
    const tokens: number[][] = 'draw' in input ? Array.from({ length: n }, () => new Array<number>(optionCounts.length)) : [];
    let result: (SampledSequences & { trace: Trace | null }) | undefined;
    // Results go out through a variable, not tidy's return value: tidy would walk every typed array in them.
    tf.tidy(() => {
      const { recurrentKernel, inputTable } = this.weights();
      let rows = tf.zeros([n], 'int32') as tf.Tensor1D;
      let h: tf.Tensor2D | null = null;
      let c: tf.Tensor2D | null = null;
      let logProb = tf.zeros([n]) as tf.Tensor1D;
      let entropy = tf.zeros([n]) as tf.Tensor1D;
      const steps: Step[] = [];
      optionCounts.forEach((k, t) => {
        const hPrev = h;
        const cPrev = c;
        const cell = this.cell(inputTable, recurrentKernel, rows, h, c, keepTrace);
        ({ h, c } = cell);
        const logits = this.logits(t, cell.h);
        const logp = tf.logSoftmax(logits) as tf.Tensor2D;
        let chosen: tf.Tensor2D;
        let token: tf.Tensor1D;
        if ('draw' in input) {
          token = tf.squeeze(tf.multinomial(logits, 1, nextSeed(input.rng)), [1]) as tf.Tensor1D;
          const drawn = token.dataSync();
          for (let row = 0; row < n; row++) tokens[row]![t] = drawn[row]!;
          chosen = tf.oneHot(token, k, 1, 0, 'float32') as tf.Tensor2D;
        } else {
          const values = Int32Array.from(input.follow, (seq) => seq[t]!);
          token = tf.tensor1d(values, 'int32');
          const chosenValues = new Float32Array(n * k);
          values.forEach((v, row) => (chosenValues[row * k + v] = 1));
          chosen = tf.tensor2d(chosenValues, [n, k]);
        }
        logProb = tf.add(logProb, tf.sum(tf.mul(logp, chosen), 1));
        if (t + 1 < optionCounts.length) rows = tf.add(token, tf.scalar(this.rowOffset[t + 1]!, 'int32'));
        if (!keepTrace) return;
        const p = tf.exp(logp) as tf.Tensor2D;
        const stepEntropy = tf.neg(tf.sum(tf.mul(p, logp), 1)) as tf.Tensor1D;
        entropy = tf.add(entropy, stepEntropy);
        steps.push({ hPrev, cPrev, i: cell.i, f: cell.f, g: cell.g, o: cell.o, tanhC: cell.tanhC, slope: cell.slope!, h: cell.h, p, logp, chosen, entropy: stepEntropy });
      });
      const logProbValues = logProb.dataSync() as Float32Array;
      let trace: Trace | null = null;
      if (keepTrace) {
        const tensors = steps.flatMap((step) => Object.values(step).filter((value): value is tf.Tensor => value instanceof tf.Tensor));
        for (const tensor of tensors) tf.keep(tensor);
        trace = { steps, count: n, logProb: logProbValues, entropy: entropy.dataSync() as Float32Array, tensors };
      }
      result = { tokens, logProb: logProbValues, trace };
    });
    return result!;
  }

  /**
   * Gradients of loss = sum_n dLogProb[n] * logProb[n] - entropyWeight * mean_n entropy[n] with
   * respect to every weight, keyed by variable name (what Optimizer.applyGradients takes). When
   * the trace is one shard of a larger batch, `batchSize` is the whole batch's size (the mean's
   * denominator).
   */
  gradients(lstmTrace: LstmTrace, dLogProb: Float32Array, entropyWeight: number, batchSize?: number): tf.NamedTensorMap {
    const trace = lstmTrace as Trace;
    const { optionCounts } = this.shape;
    const n = trace.count;
    const T = optionCounts.length;
    return tf.tidy(() => {
      const { inputKernel, recurrentKernel, rows: inputRows } = this.weights();
      // Transposed once: the backend sets up a matrix product per distinct right operand.
      const recurrentKernelT = tf.transpose(recurrentKernel) as tf.Tensor2D;
      const coefficient = tf.tensor2d(dLogProb, [n, 1]);
      const entropyScale = entropyWeight / (batchSize ?? n);
      const grads: tf.NamedTensorMap = {};
      let dhNext: tf.Tensor2D | null = null;
      let dcNext: tf.Tensor2D | null = null;
      // Weight gradients are accumulated transposed ([4H, .]): the backend's product with a
      // transposed left operand is about twice as fast with the thin operand on the right.
      const dRecurrentT: tf.Tensor2D[] = [];
      // Step t reads the table rows of step t - 1's options (step 0: the start row), so the
      // table's gradient is one block per step, in row order, and needs no scatter-add.
      const dTableT: tf.Tensor2D[] = [];
      for (let t = T - 1; t >= 0; t--) {
        const s = trace.steps[t]!;
        const kernel = this.v(`head_${t}_kernel`);
        const bias = this.v(`head_${t}_bias`);
        const chosenBefore = t > 0 ? trace.steps[t - 1]!.chosen : null;
        const [dhPrev, dcPrev, dKernel, dBias, dRecurrentStep, dTableStep] = tf.tidy(() => {
          // d loss / d logits: the log-probability term and the entropy bonus.
          const dLogits = tf.add(
            tf.mul(coefficient, tf.sub(s.chosen, s.p)),
            tf.mul(tf.mul(s.p, tf.add(s.logp, tf.reshape(s.entropy, [n, 1]))), entropyScale),
          ) as tf.Tensor2D;
          let dh = tf.matMul(dLogits, kernel as tf.Tensor2D, false, true);
          if (dhNext) dh = tf.add(dh, dhNext);
          let dc = tf.mul(tf.mul(dh, s.o), tf.sub(1, tf.square(s.tanhC)));
          if (dcNext) dc = tf.add(dc, dcNext);
          const df = s.cPrev ? tf.mul(dc, s.cPrev) : tf.zerosLike(s.f);
          const dGates = tf.concat([tf.mul(dc, s.g), df, tf.mul(dc, s.i), tf.mul(dh, s.tanhC)], 1);
          const dPre = tf.mul(dGates, s.slope) as tf.Tensor2D;
          const dH = s.hPrev ? (tf.matMul(dPre, recurrentKernelT) as tf.Tensor2D) : null;
          const dC = s.cPrev ? (tf.mul(dc, s.f) as tf.Tensor2D) : null;
          // (dLogits^T h)^T: the backend transposes the left operand, cheaper for the thin dLogits.
          const dKernel = tf.transpose(tf.matMul(dLogits, s.h, true, false));
          const dRecurrent = s.hPrev ? (tf.matMul(dPre, s.hPrev, true, false) as tf.Tensor2D) : null;
          const dTable = (chosenBefore ? tf.matMul(dPre, chosenBefore, true, false) : tf.reshape(tf.sum(dPre, 0), [-1, 1])) as tf.Tensor2D;
          return [dH, dC, dKernel, tf.sum(dLogits, 0), dRecurrent, dTable] as const;
        });
        tf.dispose([dhNext, dcNext].filter((x): x is tf.Tensor2D => x !== null));
        dhNext = dhPrev;
        dcNext = dcPrev;
        if (dRecurrentStep) dRecurrentT.push(dRecurrentStep);
        dTableT.unshift(dTableStep);
        grads[kernel.name] = dKernel;
        grads[bias.name] = dBias;
      }
      const dTable = tf.concat(dTableT, 1) as tf.Tensor2D;
      const dInputKernelT = tf.matMul(dTable, inputRows);
      grads[this.v('lstm_kernel').name] = tf.transpose(tf.concat([dInputKernelT, tf.addN(dRecurrentT)], 1));
      grads[this.v('lstm_bias').name] = tf.sum(dTable, 1);
      const dRows = tf.matMul(dTable, inputKernel, true, true);
      const sizes = [1, ...optionCounts.slice(0, -1)];
      const parts = tf.split(dRows, sizes, 0);
      grads[this.v('start').name] = parts[0]!;
      for (let t = 0; t + 1 < T; t++) grads[this.v(`embedding_${t}`).name] = parts[t + 1]!;
      return grads;
    });
  }

  /** Every weight's values, keyed by weight name (not the tfjs variable name, which differs per process). */
  getWeights(): Record<string, Float32Array> {
    return Object.fromEntries([...this.variables].map(([key, v]) => [key, v.dataSync() as Float32Array]));
  }

  /** Assigns every weight; `source` names where the values come from in the error. */
  setWeights(weights: Record<string, number[] | Float32Array>, source = 'controller weights'): void {
    for (const [key, v] of this.variables) {
      const values = weights[key];
      if (!values || values.length !== v.size) throw new Error(`${source} have no matching weight ${key} (${v.size} values)`);
      tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
    }
  }

  /** Rekeys a gradient map from tfjs variable names to weight names. */
  byWeightName(grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
    return Object.fromEntries([...this.variables].map(([key, v]) => [key, grads[v.name]!]));
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    tf.dispose([this.gateScale, this.slopeScale, this.forgetOffset]);
  }
}

export function disposeTrace(trace: LstmTrace): void {
  tf.dispose(trace.tensors);
}
