import test from 'ava';
import { DEFAULT_OPTIMIZER, isDecayedWeight, Optimizer, type OptimizerSettings } from '../src/trainer/optimizer.js';
import { tf } from '../src/trainer/tf.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

const variable = (name: string, values: number[]) => new tf.LayerVariable(tf.tensor1d(values), 'float32', name);
const values = (v: tf.LayerVariable) => Array.from(v.read().dataSync());
const grad = (values: number[]) => tf.tensor1d(values);

function assertClose(t: import('ava').ExecutionContext, actual: number[], expected: number[], message: string): void {
  t.is(actual.length, expected.length, message);
  for (let i = 0; i < expected.length; i++)
    t.true(Math.abs(actual[i]! - expected[i]!) < 1e-5, `${message}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

const SGD: OptimizerSettings = { kind: 'sgd', momentum: 0.9, rho: 0, epsilon: 0, weightDecay: 0.01 };
const RMSPROP: OptimizerSettings = { kind: 'rmsprop', momentum: 0.9, rho: 0.9, epsilon: 1e-3, weightDecay: 0 };

test('isDecayedWeight: conv and dense kernels only', (t) => {
  for (const name of ['conv/kernel', 'block3/expand_kernel', 'se/reduce_kernel', 'dw/depthwise_kernel', 'dense/kernel_1', 'kernel']) {
    t.true(isDecayedWeight(name), name);
  }
  for (const name of ['conv/bias', 'bn/gamma', 'bn/beta', 'bn/moving_mean', 'conv/mykernel', 'conv/kernel/x', 'conv/kernel_a']) {
    t.false(isDecayedWeight(name), name);
  }
});

test('SGD with momentum: two steps match the hand-computed values, with weight decay on the kernel only', (t) => {
  const kernel = variable('conv/kernel', [1, -2]);
  const bias = variable('conv/bias', [1, -2]);
  const opt = new Optimizer([kernel, bias], SGD);
  const g = [grad([0.5, 0.25]), grad([0.5, 0.25])];
  opt.apply(g, 0.1);
  // kernel: g + 0.01 w = [0.51, 0.23]; w - 0.1 g'. bias: no decay.
  assertClose(t, values(kernel), [0.949, -2.023], 'kernel after 1 step');
  assertClose(t, values(bias), [0.95, -2.025], 'bias after 1 step');
  opt.apply(g, 0.1);
  // kernel: m = 0.9 [0.51, 0.23] + [0.5 + 0.00949, 0.25 - 0.02023] = [0.96849, 0.43677].
  assertClose(t, values(kernel), [0.852151, -2.066677], 'kernel after 2 steps');
  // bias: m = 1.9 g = [0.95, 0.475].
  assertClose(t, values(bias), [0.855, -2.0725], 'bias after 2 steps');
  t.deepEqual(
    opt.getState().slots['conv/bias']!.map((a) => a.map((x) => Math.round(x * 1e6) / 1e6)),
    [[], [0.95, 0.475]],
  );
});

test('RMSProp (TensorFlow form, epsilon inside the square root): two steps match the hand-computed values', (t) => {
  const w = variable('bn/gamma', [1]);
  const opt = new Optimizer([w], RMSPROP);
  opt.apply([grad([2])], 0.1);
  // ms = 0.1 * 4 = 0.4; m = 0.1 * 2 / sqrt(0.401) = 0.315833; w = 0.684167.
  assertClose(t, values(w), [0.684167], 'after 1 step');
  opt.apply([grad([2])], 0.1);
  // ms = 0.76; m = 0.9 * 0.315833 + 0.2 / sqrt(0.761) = 0.513515; w = 0.170652.
  assertClose(t, values(w), [0.170652], 'after 2 steps');
  const [ms, mom] = opt.getState().slots['bn/gamma']!;
  assertClose(t, ms!, [0.76], 'mean square');
  assertClose(t, mom!, [0.513515], 'momentum');
});

test('RMSProp weight decay adds weightDecay * w to the gradient of kernels only', (t) => {
  const kernel = variable('dense/kernel', [2]);
  const beta = variable('bn/beta', [2]);
  const opt = new Optimizer([kernel, beta], { ...RMSPROP, momentum: 0, weightDecay: 0.5 });
  opt.apply([grad([0]), grad([0])], 0.1);
  // kernel: g' = 0.5 * 2 = 1; ms = 0.1; step = 0.1 / sqrt(0.101) = 0.314658. beta: zero gradient, no step.
  assertClose(t, values(kernel), [2 - 0.314658], 'kernel');
  assertClose(t, values(beta), [2], 'beta');
});

for (const kind of ['sgd', 'rmsprop'] as const) {
  test(`${kind}: exportSlots/importSlots into a fresh optimizer gives the same next steps`, (t) => {
    const settings = DEFAULT_OPTIMIZER[kind];
    const make = () => [variable('conv/kernel', [0.3, -0.7, 1.1]), variable('conv/bias', [0.05])];
    const grads = (k: number) => [grad([0.2 * k, -0.1, 0.4]), grad([0.3 - 0.1 * k])];
    const a = make();
    const optA = new Optimizer(a, settings);
    for (let k = 0; k < 3; k++) optA.apply(grads(k), 0.05);
    const slots = optA.exportSlots().map((s) => Float32Array.from(s));
    t.is(slots.length, 4);

    const b = a.map((v) => new tf.LayerVariable(tf.clone(v.read()), 'float32', v.originalName));
    const optB = new Optimizer(b, settings);
    optB.importSlots(slots);
    t.deepEqual(optB.getState(), optA.getState());
    for (let k = 3; k < 5; k++) {
      optA.apply(grads(k), 0.05);
      optB.apply(grads(k), 0.05);
    }
    for (const [i, v] of a.entries()) t.deepEqual(values(b[i]!), values(v), v.originalName);

    // Without the imported state the next steps differ (momentum matters).
    const c = make();
    const optC = new Optimizer(c, settings);
    optC.apply(grads(3), 0.05);
    t.notDeepEqual(values(c[0]!), values(b[0]!));
  });
}

test('importSlots rejects state for another number of variables or another size', (t) => {
  const opt = new Optimizer([variable('conv/kernel', [1, 2]), variable('conv/bias', [0])], DEFAULT_OPTIMIZER.rmsprop);
  t.throws(() => opt.importSlots([new Float32Array(2), new Float32Array(2)]), { message: 'optimizer state has 1 variables, the model 2' });
  t.throws(() => opt.importSlots([new Float32Array(2), new Float32Array(2), new Float32Array(2), new Float32Array(2)]), {
    message: 'optimizer state of conv/bias has the wrong size',
  });
});
