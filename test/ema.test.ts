import test from 'ava';
import { WeightAverage } from '../src/trainer/ema.js';
import { tf } from '../src/trainer/tf.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

const variable = (name: string, values: number[]) => new tf.LayerVariable(tf.tensor1d(values), 'float32', name);
const values = (v: tf.LayerVariable) => Array.from(v.read().dataSync());
const set = (v: tf.LayerVariable, values: number[]) => v.write(tf.tensor1d(values));

function assertClose(t: import('ava').ExecutionContext, actual: ArrayLike<number>, expected: number[], message: string): void {
  t.is(actual.length, expected.length, message);
  for (let i = 0; i < expected.length; i++)
    t.true(Math.abs(actual[i]! - expected[i]!) < 1e-5, `${message}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

test('the shadow is the exponential average with the ramped decay min(decay, (1 + step) / (10 + step))', (t) => {
  const w = variable('conv/kernel', [0, 10]);
  const ema = new WeightAverage([w], 0.5);
  assertClose(t, ema.exportSlots()[0]!, [0, 10], 'starts at the weights');
  set(w, [1, 20]);
  ema.update(0); // d = min(0.5, 1/10) = 0.1: 0.1 [0, 10] + 0.9 [1, 20]
  assertClose(t, ema.exportSlots()[0]!, [0.9, 19], 'step 0');
  set(w, [2, 30]);
  ema.update(10); // d = min(0.5, 11/20) = 0.5
  assertClose(t, ema.exportSlots()[0]!, [1.45, 24.5], 'step 10');
  set(w, [4, 40]);
  ema.update(20); // d = min(0.5, 21/30) = 0.5
  assertClose(t, ema.exportSlots()[0]!, [2.725, 32.25], 'step 20');
  t.deepEqual(values(w), [4, 40], 'update does not touch the weights');
});

test('after n updates with constant weights and decay capped low, the shadow is w + d^n (w0 - w)', (t) => {
  const w = variable('dense/kernel', [8]);
  const ema = new WeightAverage([w], 0.05);
  set(w, [0]);
  for (let step = 0; step < 5; step++) ema.update(step); // d = 0.05 every step (ramp >= 0.1)
  assertClose(t, ema.exportSlots()[0]!, [8 * 0.05 ** 5], 'shadow');
});

test('withAverage swaps the averages in for fn and restores the weights, also when fn throws', (t) => {
  const a = variable('conv/kernel', [0, 10]);
  const b = variable('conv/bias', [4]);
  const ema = new WeightAverage([a, b], 0.5);
  set(a, [2, 20]);
  set(b, [6]);
  ema.update(100); // d = 0.5: [1, 15], [5]
  const seen = ema.withAverage(() => [values(a), values(b)]);
  assertClose(t, seen[0]!, [1, 15], 'a during fn');
  assertClose(t, seen[1]!, [5], 'b during fn');
  t.deepEqual(values(a), [2, 20]);
  t.deepEqual(values(b), [6]);

  const before = tf.memory().numTensors;
  t.throws(
    () =>
      ema.withAverage(() => {
        t.deepEqual(values(b), [5]);
        throw new Error('evaluation failed');
      }),
    { message: 'evaluation failed' },
  );
  t.deepEqual(values(a), [2, 20], 'a restored after a throw');
  t.deepEqual(values(b), [6], 'b restored after a throw');
  t.is(tf.memory().numTensors, before, 'no tensor leaked');
  // The averages are still there for the next evaluation.
  assertClose(t, ema.exportSlots()[1]!, [5], 'shadow kept');
});

test('swapIn replaces the weights by their averages for good', (t) => {
  const w = variable('conv/kernel', [0, 10]);
  const ema = new WeightAverage([w], 0.5);
  set(w, [2, 30]);
  ema.update(50);
  ema.swapIn();
  assertClose(t, values(w), [1, 20], 'weights');
});

test('importSlots sets the shadows and rejects another number of variables', (t) => {
  const a = variable('conv/kernel', [0, 0]);
  const b = variable('conv/bias', [0]);
  const ema = new WeightAverage([a, b], 0.9);
  t.throws(() => ema.importSlots([new Float32Array(2)]), { message: 'EMA state has 1 variables, the model 2' });
  t.throws(() => ema.importSlots([new Float32Array(2), new Float32Array(1), new Float32Array(1)]), {
    message: 'EMA state has 3 variables, the model 2',
  });
  ema.importSlots([Float32Array.from([3, 4]), Float32Array.from([5])]);
  ema.swapIn();
  t.deepEqual(values(a), [3, 4]);
  t.deepEqual(values(b), [5]);
});
