/**
 * The controller's network: a one-layer LSTM that emits one token per choice point, fed the
 * embedding of the previous token (a learned start vector at step 0), with one softmax head per
 * choice point. The forward and backward passes are written out by hand in tfjs ops instead of
 * going through autodiff, for speed: autodiff records ~60 small kernels per step and computes the
 * weight gradients step by step, while here
 *
 * - states are kept transposed, one column per sequence ([H, n]): the four gates are then
 *   contiguous row blocks (splitting and concatenating them are plain copies), and every product,
 *   the weight gradients' included, runs without a transposed left operand (the wasm backend's
 *   slow path);
 * - the input projection of every embedding row is computed once per pass (a table with the bias
 *   folded in), and a step takes its input term as the product of its block of that table with
 *   the previous token's one-hot;
 * - the four gates come from one sigmoid (tanh(x) = 2 sigmoid(2x) - 1; the backend's tanh is
 *   several times slower than its sigmoid), the factor 2 folded into the weights once per pass;
 * - the input-side gradients (embeddings, input kernel, bias) come from the gradient of that
 *   table, one block per step, through two small products.
 * - the softmax heads ([n, k], k <= 4 or so) run in JS on the logits read back once per step:
 *   softmax, entropy, the seeded draw and the logits' gradient, where tfjs would dispatch some
 *   twenty kernels on tiny tensors.
 *
 * Weights keep the names and layouts of a plain LSTM (kernel [E + H, 4H] with gates i, f, g, o;
 * forget-gate bias offset +1), so checkpoints stay readable. test/controller-lstm.test.ts checks the
 * gradients against tfjs autodiff of the same loss.
 */
import { nextSeed } from '../common/rng.js';
import { tf } from '../trainer/tf.js';

export interface LstmShape {
  optionCounts: readonly number[];
  hidden: number;
  embedding: number;
}

/** Kept from a pass for the backward pass; dispose() frees it. */
export interface LstmTrace {
  /** Summed log-probability of each sequence. */
  logProb: Float32Array;
  /** Entropy of each sequence (summed over its steps). */
  entropy: Float32Array;
  readonly tensors: tf.Tensor[];
}

export interface SampledSequences {
  tokens: number[][];
  /** Summed log-probability of each sequence. */
  logProb: Float32Array;
}

/** One step of a pass; the `T` tensors are transposed, [H, n] or [4H, n]. */
interface Step {
  hPrevT: tf.Tensor2D | null;
  cPrevT: tf.Tensor2D | null;
  iT: tf.Tensor2D;
  fT: tf.Tensor2D;
  gT: tf.Tensor2D;
  oT: tf.Tensor2D;
  tanhCT: tf.Tensor2D;
  /** d(gate activations)/d(gate pre-activations), [4H, n]. */
  slopeT: tf.Tensor2D;
  hT: tf.Tensor2D;
  /** One-hot of the previous step's token ([n, 1] of ones at step 0): the table rows read. */
  previous: tf.Tensor2D;
  head: HeadStep;
}

/** A softmax head's step, computed in JS: [n, k] is small, and tfjs would spend ~20 kernels on it. */
interface HeadStep {
  k: number;
  /** The token drawn or followed, per sequence. */
  tokens: Int32Array;
  /** Probabilities and log-probabilities, [n, k] row-major. */
  p: Float32Array;
  logp: Float32Array;
  /** Entropy of the step's distribution, per sequence. */
  entropy: Float32Array;
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

/**
 * The softmax over `k` options of each of n sequences, from logits laid out [k, n] (the head's
 * product with the transposed states) plus the bias; draws each token with `rng` (inverse CDF)
 * or takes the given ones. Adds each sequence's chosen log-probability and entropy to the totals.
 */
function headStep(
  logitsT: Float32Array,
  bias: Float32Array,
  k: number,
  n: number,
  choose: (() => number) | Int32Array | 'argmax',
  logProb: Float64Array,
  entropy: Float64Array,
): HeadStep {
  const head: HeadStep = {
    k,
    tokens: new Int32Array(n),
    p: new Float32Array(n * k),
    logp: new Float32Array(n * k),
    entropy: new Float32Array(n),
  };
  const logits = new Float64Array(k);
  for (let j = 0; j < n; j++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      logits[c] = logitsT[c * n + j]! + bias[c]!;
      max = Math.max(max, logits[c]!);
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[c]! - max);
    const logSum = max + Math.log(sum);
    let h = 0;
    for (let c = 0; c < k; c++) {
      const lp = logits[c]! - logSum;
      const p = Math.exp(lp);
      head.logp[j * k + c] = lp;
      head.p[j * k + c] = p;
      h -= p * lp;
    }
    let token: number;
    if (typeof choose === 'function') {
      const u = choose();
      let cumulative = 0;
      token = k - 1;
      for (let c = 0; c < k - 1; c++) {
        cumulative += head.p[j * k + c]!;
        if (u < cumulative) {
          token = c;
          break;
        }
      }
    } else if (choose === 'argmax') {
      token = 0;
      for (let c = 1; c < k; c++) if (head.p[j * k + c]! > head.p[j * k + token]!) token = c;
    } else token = choose[j]!;
    head.tokens[j] = token;
    head.entropy[j] = h;
    logProb[j]! += head.logp[j * k + token]!;
    entropy[j]! += h;
  }
  return head;
}

/**
 * d loss / d logits of a head step, [n, k]: the log-probability term (coefficient x (one-hot - p))
 * and the entropy bonus (scale x p (log p + H)); and its sum over sequences (the bias gradient).
 */
function logitGradients(
  head: HeadStep,
  coefficient: Float32Array,
  entropyScale: number,
): { values: Float32Array; biasGradient: Float32Array } {
  const { k, p, logp, tokens, entropy } = head;
  const n = tokens.length;
  const values = new Float32Array(n * k);
  const biasGradient = new Float32Array(k);
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < k; c++) {
      const i = j * k + c;
      const d = coefficient[j]! * ((tokens[j] === c ? 1 : 0) - p[i]!) + entropyScale * p[i]! * (logp[i]! + entropy[j]!);
      values[i] = d;
      biasGradient[c]! += d;
    }
  }
  return { values, biasGradient };
}

/** One-hot rows [n, k] and their transpose [k, n] of the given tokens. */
function oneHots(values: ArrayLike<number>, k: number): [tf.Tensor2D, tf.Tensor2D] {
  const n = values.length;
  const rows = new Float32Array(n * k);
  const columns = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    rows[i * k + values[i]!] = 1;
    columns[values[i]! * n + i] = 1;
  }
  return [tf.tensor2d(rows, [n, k]), tf.tensor2d(columns, [k, n])];
}

export class LstmNetwork {
  readonly variables = new Map<string, tf.Variable>();
  /** Pre-activation scale (2 on the g gate, for tanh via sigmoid) and the matching slope factor, as columns [4H, 1]. */
  private readonly gateScale: tf.Tensor2D;
  private readonly slopeScale: tf.Tensor2D;
  private readonly forgetOffset: tf.Tensor1D;

  constructor(
    private readonly shape: LstmShape,
    rng: () => number,
  ) {
    const { hidden: H, embedding: E, optionCounts } = shape;
    // A variable shares its initial tensor's data: disposing that tensor frees it at the first assign.
    const variable = (initial: tf.Tensor) => {
      const v = tf.variable(initial);
      initial.dispose();
      return v;
    };
    const init = (dims: number[], scale: number) => variable(tf.randomUniform(dims, -scale, scale, 'float32', nextSeed(rng)));
    this.variables.set('start', init([1, E], 0.1));
    this.variables.set('lstm_kernel', init([E + H, GATES * H], Math.sqrt(6 / (E + 5 * H))));
    this.variables.set('lstm_bias', variable(tf.zeros([GATES * H])));
    optionCounts.forEach((k, t) => {
      this.variables.set(`head_${t}_kernel`, init([H, k], 0.1));
      this.variables.set(`head_${t}_bias`, variable(tf.zeros([k])));
      if (t + 1 < optionCounts.length) this.variables.set(`embedding_${t}`, init([k, E], 0.1));
    });
    const block = (values: number[]) => values.flatMap((v) => Array<number>(H).fill(v));
    this.gateScale = tf.tensor2d(block([1, 1, 2, 1]), [GATES * H, 1]);
    this.slopeScale = tf.tensor2d(block([1, 1, 4, 1]), [GATES * H, 1]);
    this.forgetOffset = tf.tensor1d(block([0, 1, 0, 0]));
  }

  private v(name: string): tf.Variable {
    return this.variables.get(name)!;
  }

  /** The start vector and every embedding table stacked: [rows, E]; step t reads the block of step t - 1's options. */
  private inputRows(): tf.Tensor2D {
    const parts: tf.Tensor2D[] = [this.v('start') as tf.Tensor2D];
    for (let t = 0; t + 1 < this.shape.optionCounts.length; t++) parts.push(this.v(`embedding_${t}`) as tf.Tensor2D);
    return tf.concat(parts, 0);
  }

  /** Rows of the input table per step: 1 (the start vector), then step t - 1's option count. */
  private blockSizes(): number[] {
    return [1, ...this.shape.optionCounts.slice(0, -1)];
  }

  private weights() {
    const { hidden: H, embedding: E } = this.shape;
    const kernel = this.v('lstm_kernel') as tf.Tensor2D;
    const inputKernel = tf.slice(kernel, [0, 0], [E, GATES * H]);
    const recurrentKernel = tf.slice(kernel, [E, 0], [H, GATES * H]);
    const rows = this.inputRows();
    return { inputKernel, recurrentKernel, rows };
  }

  /** What a forward pass multiplies with: the scaled recurrent kernel and each step's input-table block, transposed. */
  private passWeights() {
    const { recurrentKernel, inputKernel, rows } = this.weights();
    const table = tf.add(tf.add(tf.matMul(rows, inputKernel), this.v('lstm_bias')), this.forgetOffset);
    const tableT = tf.mul(tf.transpose(table), this.gateScale) as tf.Tensor2D;
    const blocksT = tf.split(tableT, this.blockSizes(), 1) as tf.Tensor2D[];
    const recurrentT = tf.mul(tf.transpose(recurrentKernel), this.gateScale) as tf.Tensor2D;
    const headsT = this.shape.optionCounts.map((_, t) => tf.transpose(this.v(`head_${t}_kernel`)) as tf.Tensor2D);
    return { recurrentT, blocksT, headsT };
  }

  /** One LSTM step on transposed states; `slopeT` only when the caller will differentiate. */
  private cell(inputT: tf.Tensor2D, recurrentT: tf.Tensor2D, hT: tf.Tensor2D | null, cT: tf.Tensor2D | null, withSlope: boolean) {
    const pre = hT ? tf.add(inputT, tf.matMul(recurrentT, hT)) : inputT;
    const s = tf.sigmoid(pre) as tf.Tensor2D;
    const [iT, fT, sg, oT] = tf.split(s, GATES, 0) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const gT = tf.sub(tf.mul(sg, 2), 1) as tf.Tensor2D;
    const cNext = (cT ? tf.add(tf.mul(fT, cT), tf.mul(iT, gT)) : tf.mul(iT, gT)) as tf.Tensor2D;
    const tanhCT = tanhViaSigmoid(cNext);
    const hNext = tf.mul(oT, tanhCT) as tf.Tensor2D;
    const slopeT = withSlope ? (tf.mul(tf.mul(s, tf.sub(1, s)), this.slopeScale) as tf.Tensor2D) : null;
    return { iT, fT, gT, oT, cT: cNext, tanhCT, hT: hNext, slopeT };
  }

  /** Draws `count` sequences (seeded); returns the tokens and each sequence's log-probability. */
  sample(count: number, rng: () => number): SampledSequences {
    const { tokens, logProb } = this.pass({ draw: count, rng }, false);
    return { tokens, logProb };
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

  /** The most likely sequence, choosing each step's likeliest option (greedy decoding). */
  mostLikely(): SampledSequences {
    const { tokens, logProb } = this.pass({ draw: 1, rng: 'argmax' }, false);
    return { tokens, logProb };
  }

  /** Follows the given token sequences, keeping what the backward pass needs (dispose it after). */
  forward(tokens: readonly (readonly number[])[]): LstmTrace {
    return this.pass({ follow: tokens }, true).trace!;
  }

  /** One pass over the steps, drawing each token or following the given ones. */
  private pass(
    input: { draw: number; rng: (() => number) | 'argmax' } | { follow: readonly (readonly number[])[] },
    keepTrace: boolean,
  ): SampledSequences & { trace: Trace | null } {
    const { optionCounts } = this.shape;
    const n = 'draw' in input ? input.draw : input.follow.length;
    const tokens: number[][] = 'draw' in input ? Array.from({ length: n }, () => new Array<number>(optionCounts.length)) : [];
    let result: (SampledSequences & { trace: Trace | null }) | undefined;
    // Results go out through a variable, not tidy's return value: tidy would walk every typed array in them.
    tf.tidy(() => {
      const { recurrentT, blocksT, headsT } = this.passWeights();
      const biases = optionCounts.map((_, t) => this.v(`head_${t}_bias`).dataSync() as Float32Array);
      let hT: tf.Tensor2D | null = null;
      let cT: tf.Tensor2D | null = null;
      let previous = tf.ones([n, 1]) as tf.Tensor2D;
      let previousT = tf.ones([1, n]) as tf.Tensor2D;
      const logProb = new Float64Array(n);
      const entropy = new Float64Array(n);
      const steps: Step[] = [];
      optionCounts.forEach((k, t) => {
        const [hPrevT, cPrevT] = [hT, cT];
        const cell = this.cell(tf.matMul(blocksT[t]!, previousT), recurrentT, hT, cT, keepTrace);
        ({ hT, cT } = cell);
        const logitsT = tf.matMul(headsT[t]!, cell.hT).dataSync() as Float32Array;
        const choose = 'draw' in input ? input.rng : Int32Array.from(input.follow, (seq) => seq[t]!);
        const head = headStep(logitsT, biases[t]!, k, n, choose, logProb, entropy);
        if ('draw' in input) for (let row = 0; row < n; row++) tokens[row]![t] = head.tokens[row]!;
        const [chosen, chosenT] = oneHots(head.tokens, k);
        if (keepTrace) {
          const { iT, fT, gT, oT, tanhCT } = cell;
          steps.push({ hPrevT, cPrevT, iT, fT, gT, oT, tanhCT, slopeT: cell.slopeT!, hT: cell.hT, previous, head });
        }
        [previous, previousT] = [chosen, chosenT];
      });
      const logProbValues = Float32Array.from(logProb);
      let trace: Trace | null = null;
      if (keepTrace) {
        const tensors = steps.flatMap((step) => Object.values(step).filter((value): value is tf.Tensor => value instanceof tf.Tensor));
        for (const tensor of tensors) tf.keep(tensor);
        trace = { steps, count: n, logProb: logProbValues, entropy: Float32Array.from(entropy), tensors };
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
      const entropyScale = entropyWeight / (batchSize ?? n);
      const grads: tf.NamedTensorMap = {};
      let dhNextT: tf.Tensor2D | null = null;
      let dcNextT: tf.Tensor2D | null = null;
      const dRecurrentSteps: tf.Tensor2D[] = [];
      // Step t reads only the table rows of step t - 1's options (step 0: the start row), so the
      // table's gradient is one block per step, in row order: no scatter-add.
      const dTableBlocksT: tf.Tensor2D[] = [];
      for (let t = T - 1; t >= 0; t--) {
        const s = trace.steps[t]!;
        const kernel = this.v(`head_${t}_kernel`);
        const bias = this.v(`head_${t}_bias`);
        const [dhPrevT, dcPrevT, dKernel, dBias, dRecurrent, dTableBlockT] = tf.tidy(() => {
          const { values: dLogitsValues, biasGradient } = logitGradients(s.head, dLogProb, entropyScale);
          const dLogits = tf.tensor2d(dLogitsValues, [n, s.head.k]);
          let dhT = tf.matMul(kernel as tf.Tensor2D, dLogits, false, true);
          if (dhNextT) dhT = tf.add(dhT, dhNextT);
          let dcT = tf.mul(tf.mul(dhT, s.oT), tf.sub(1, tf.square(s.tanhCT)));
          if (dcNextT) dcT = tf.add(dcT, dcNextT);
          const dfT = s.cPrevT ? tf.mul(dcT, s.cPrevT) : tf.zerosLike(s.fT);
          const dGatesT = tf.concat([tf.mul(dcT, s.gT), dfT, tf.mul(dcT, s.iT), tf.mul(dhT, s.tanhCT)], 0);
          const dPreT = tf.mul(dGatesT, s.slopeT) as tf.Tensor2D;
          return [
            s.hPrevT ? (tf.matMul(recurrentKernel, dPreT) as tf.Tensor2D) : null,
            s.cPrevT ? (tf.mul(dcT, s.fT) as tf.Tensor2D) : null,
            tf.matMul(s.hT, dLogits),
            tf.tensor1d(biasGradient),
            s.hPrevT ? (tf.matMul(s.hPrevT, dPreT, false, true) as tf.Tensor2D) : null,
            tf.matMul(dPreT, s.previous) as tf.Tensor2D,
          ] as const;
        });
        tf.dispose([dhNextT, dcNextT].filter((x): x is tf.Tensor2D => x !== null));
        dhNextT = dhPrevT;
        dcNextT = dcPrevT;
        if (dRecurrent) dRecurrentSteps.push(dRecurrent);
        dTableBlocksT.unshift(dTableBlockT);
        grads[kernel.name] = dKernel;
        grads[bias.name] = dBias;
      }
      const dTableT = tf.concat(dTableBlocksT, 1) as tf.Tensor2D;
      const dInputKernel = tf.transpose(tf.matMul(dTableT, inputRows));
      // A single-step controller never multiplies by the recurrent kernel.
      const dRecurrentKernel = dRecurrentSteps.length ? tf.addN(dRecurrentSteps) : tf.zerosLike(recurrentKernel);
      grads[this.v('lstm_kernel').name] = tf.concat([dInputKernel, dRecurrentKernel], 0);
      grads[this.v('lstm_bias').name] = tf.sum(dTableT, 1);
      const dRows = tf.matMul(dTableT, inputKernel, true, true);
      const parts = tf.split(dRows, this.blockSizes(), 0);
      grads[this.v('start').name] = parts[0]!;
      for (let t = 0; t + 1 < T; t++) grads[this.v(`embedding_${t}`).name] = parts[t + 1]!;
      return grads;
    });
  }

  /** A copy of every weight's values, keyed by weight name (not the tfjs variable name, which differs per process). */
  getWeights(): Record<string, Float32Array> {
    return Object.fromEntries([...this.variables].map(([key, v]) => [key, (v.dataSync() as Float32Array).slice()]));
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
