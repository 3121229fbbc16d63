import test from 'ava';
import seedrandom from 'seedrandom';
import { disposeTrace, LstmNetwork } from '../src/controller/lstm.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { tf } from '../src/trainer/tf.js';
import { relativeError } from './helpers/numeric.js';

test.before(async () => {
  await prepareBackend('auto');
});

const counts = [3, 2, 4, 2, 3];
const H = 5;
const E = 3;

/**
 * The same policy written the plain way (input and hidden concatenated, tf.tanh, per-step
 * embedding lookups), differentiated by tfjs: the reference for the hand-written backward pass.
 */
function referenceLoss(net: LstmNetwork, counts: readonly number[], tokens: number[][], dLogProb: Float32Array, entropyWeight: number) {
  const v = (name: string) => net.variables.get(name)! as tf.Tensor2D;
  const n = tokens.length;
  let h = tf.zeros([n, H]) as tf.Tensor2D;
  let c = tf.zeros([n, H]) as tf.Tensor2D;
  let x = tf.tile(v('start'), [n, 1]) as tf.Tensor2D;
  let logProb = tf.zeros([n]) as tf.Tensor1D;
  let entropy = tf.zeros([n]) as tf.Tensor1D;
  counts.forEach((k, t) => {
    const gates = tf.add(tf.matMul(tf.concat([x, h], 1), v('lstm_kernel')), v('lstm_bias'));
    const [i, f, g, o] = tf.split(gates, 4, 1) as tf.Tensor2D[];
    c = tf.add(tf.mul(tf.sigmoid(tf.add(f!, 1)), c), tf.mul(tf.sigmoid(i!), tf.tanh(g!)));
    h = tf.mul(tf.sigmoid(o!), tf.tanh(c));
    const logp = tf.logSoftmax(tf.add(tf.matMul(h, v(`head_${t}_kernel`)), v(`head_${t}_bias`)));
    const token = tf.tensor1d(
      tokens.map((s) => s[t]!),
      'int32',
    );
    logProb = tf.add(logProb, tf.sum(tf.mul(logp, tf.oneHot(token, k, 1, 0, 'float32')), 1));
    entropy = tf.sub(entropy, tf.sum(tf.mul(tf.exp(logp), logp), 1));
    if (t + 1 < counts.length) x = tf.gather(v(`embedding_${t}`), token);
  });
  const loss = tf.sub(tf.sum(tf.mul(tf.tensor1d(dLogProb), logProb)), tf.mul(entropyWeight, tf.mean(entropy))) as tf.Scalar;
  return { loss, logProb, entropy };
}

const matchesAutodiff = test.macro((t, counts: readonly number[]) => {
  const net = new LstmNetwork({ optionCounts: [...counts], hidden: H, embedding: E }, seedrandom('init'));
  // Larger weights than the initialiser's, so every gate is away from its linear regime.
  for (const v of net.variables.values()) v.assign(tf.randomUniform(v.shape, -0.8, 0.8, 'float32', 7));
  const rng = seedrandom('tokens');
  const tokens = Array.from({ length: 7 }, () => counts.map((k) => Math.floor(rng() * k)));
  const dLogProb = Float32Array.from(tokens, () => rng() * 2 - 1);
  const entropyWeight = 0.3;

  const trace = net.forward(tokens);
  const grads = net.gradients(trace, dLogProb, entropyWeight);
  const reference = tf.variableGrads(() => referenceLoss(net, counts, tokens, dLogProb, entropyWeight).loss, [...net.variables.values()]);
  const forward = tf.tidy(() => {
    const r = referenceLoss(net, counts, tokens, dLogProb, entropyWeight);
    return { logProb: r.logProb.dataSync().slice(), entropy: r.entropy.dataSync().slice() };
  });

  t.true(relativeError(trace.logProb, forward.logProb) < 1e-4, 'log-probabilities');
  t.true(relativeError(trace.entropy, forward.entropy) < 1e-4, 'entropies');
  t.deepEqual(Object.keys(grads).sort(), Object.keys(reference.grads).sort(), 'a gradient for every weight');
  for (const [name, expected] of Object.entries(reference.grads)) {
    const err = relativeError(grads[name]!.dataSync(), expected.dataSync());
    t.true(err < 1e-3, `${name}: relative error ${err}`);
  }
  disposeTrace(trace);
  tf.dispose([...Object.values(grads), ...Object.values(reference.grads), reference.value]);
  net.dispose();
});

test('the hand-written LSTM backward pass matches tfjs autodiff of the plain LSTM', matchesAutodiff, counts);
test('the backward pass matches autodiff for a single choice point (no recurrent step)', matchesAutodiff, [3]);

test('sampling draws the tokens its log-probabilities describe, and the same seed draws the same sequences', (t) => {
  const net = new LstmNetwork({ optionCounts: counts, hidden: H, embedding: E }, seedrandom('init'));
  const sampled = net.sample(50, seedrandom('draw'));
  t.deepEqual(net.sample(50, seedrandom('draw')).tokens, sampled.tokens);
  for (const seq of sampled.tokens)
    seq.forEach((token, step) => {
      t.true(token >= 0 && token < counts[step]!);
    });
  const trace = net.forward(sampled.tokens);
  t.true(relativeError(trace.logProb, sampled.logProb) < 1e-5);
  disposeTrace(trace);
  const before = tf.memory().numTensors;
  const again = net.forward(sampled.tokens);
  tf.dispose(Object.values(net.gradients(again, new Float32Array(50), 0)));
  disposeTrace(again);
  t.is(tf.memory().numTensors, before, 'forward and gradients leave no tensors behind once disposed');
  net.dispose();
});

test('the trace kept while sampling is the one a forward pass over the drawn tokens gives', (t) => {
  const net = new LstmNetwork({ optionCounts: counts, hidden: H, embedding: E }, seedrandom('init'));
  const before = tf.memory().numTensors;
  const sampled = net.sampleWithTrace(40, seedrandom('draw'));
  t.deepEqual(sampled.tokens, net.sample(40, seedrandom('draw')).tokens, 'keeping the trace draws the same tokens');
  const forward = net.forward(sampled.tokens);
  t.deepEqual(sampled.trace.logProb, forward.logProb);
  t.deepEqual(sampled.trace.entropy, forward.entropy);
  const dLogProb = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i));
  const read = (grads: tf.NamedTensorMap) => Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, Array.from(g.dataSync())]));
  const fromSample = net.gradients(sampled.trace, dLogProb, 0.01);
  const fromForward = net.gradients(forward, dLogProb, 0.01);
  t.deepEqual(read(fromSample), read(fromForward), 'the same gradients, bit for bit');
  tf.dispose([...Object.values(fromSample), ...Object.values(fromForward)]);
  disposeTrace(sampled.trace);
  disposeTrace(forward);
  t.is(tf.memory().numTensors, before);
  net.dispose();
});

test('tokens are drawn with the probabilities the policy gives them', (t) => {
  // One choice point: every sequence shares the distribution, and its log-probability is that of its token.
  const net = new LstmNetwork({ optionCounts: [4], hidden: H, embedding: E }, seedrandom('skewed'));
  tf.tidy(() => net.variables.get('head_0_bias')!.assign(tf.tensor1d([1.5, 0, -1, 0.5])));
  const n = 20000;
  const { tokens, logProb } = net.sample(n, seedrandom('draw'));
  const counts = [0, 0, 0, 0];
  const probability = [0, 0, 0, 0];
  tokens.forEach(([token], i) => {
    counts[token!]!++;
    probability[token!] = Math.exp(logProb[i]!);
  });
  t.true(Math.abs(probability.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'the four probabilities sum to 1');
  probability.forEach((p, token) => {
    const sigma = Math.sqrt((p * (1 - p)) / n);
    t.true(Math.abs(counts[token]! / n - p) < 4 * sigma, `token ${token}: drawn ${counts[token]! / n}, probability ${p}`);
  });
  net.dispose();
});
