import test from 'ava';
import { ADAM_DEFAULTS, Adam } from '../src/controller/adam.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { tf } from '../src/trainer/tf.js';
import { relativeError } from './helpers/numeric.js';

test.before(async () => {
  await prepareBackend('auto');
});

const initial = { a: Float32Array.from([0.5, -1, 2]), b: Float32Array.from([0.25, 0.1]) };
/** Gradients that change from step to step, so both moments matter. */
const gradientAt = (step: number) => ({ a: [Math.sin(step), 0.3 * step - 1, 0.01], b: [-2, Math.cos(step) * 0.5] });

function copy(weights: Record<string, Float32Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v.slice()]));
}

test('Adam on arrays follows tf.train.adam step for step', (t) => {
  const weights = copy(initial);
  const adam = new Adam({ ...ADAM_DEFAULTS, learningRate: 0.05 });
  const variables = Object.fromEntries(Object.entries(initial).map(([k, v]) => [k, tf.variable(tf.tensor1d(v))]));
  const reference = tf.train.adam(0.05);
  for (let step = 1; step <= 6; step++) {
    const grads = gradientAt(step);
    adam.step(weights, grads);
    reference.applyGradients(Object.entries(grads).map(([k, g]) => ({ name: variables[k]!.name, tensor: tf.tensor1d(g) })));
  }
  for (const [key, v] of Object.entries(variables)) t.true(relativeError(weights[key]!, v.dataSync() as Float32Array) < 1e-5, key);
  reference.dispose();
  tf.dispose(Object.values(variables));
});

test('Adam state round-trips, and a state tfjs wrote (moments by position) reads back', async (t) => {
  const adam = new Adam({ ...ADAM_DEFAULTS, learningRate: 0.05 });
  const weights = copy(initial);
  for (let step = 1; step <= 3; step++) adam.step(weights, gradientAt(step));
  const state = adam.getState({ a: [3], b: [2] });
  t.deepEqual(
    state.map((s) => s.name),
    ['iter', 'a/m', 'b/m', 'a/v', 'b/v'],
  );

  const resumed = new Adam({ ...ADAM_DEFAULTS, learningRate: 0.05 });
  resumed.setState(state, ['a', 'b'], 'test state');
  const fromTfjsLayout = new Adam({ ...ADAM_DEFAULTS, learningRate: 0.05 });
  fromTfjsLayout.setState(
    state.map((s, i) => (i === 0 ? s : { ...s, name: `${17 + i}/${s.name.slice(-1)}` })),
    ['a', 'b'],
    'test state',
  );
  const [w1, w2, w3] = [copy(weights), copy(weights), copy(weights)];
  adam.step(w1, gradientAt(4));
  resumed.step(w2, gradientAt(4));
  fromTfjsLayout.step(w3, gradientAt(4));
  t.deepEqual(w2, w1);
  t.deepEqual(w3, w1);
  t.throws(() => resumed.setState(state.slice(0, 3), ['a', 'b'], 'run/controller.json'), {
    message: /run\/controller.json: the optimizer state has 2 moments for 2 weights/,
  });
});
