import test from 'ava';
import { tf } from '../src/trainer/tf.js';
import '@tensorflow/tfjs-backend-wasm';
import seedrandom from 'seedrandom';
import { activeTrainingKernels, registerWasmTrainingKernels } from '../src/trainer/wasm-kernels.js';
import { relativeError } from './helpers/numeric.js';

registerWasmTrainingKernels();
tf.enableProdMode(); // no console banners; checks that matter (shapes) still run

async function onBackend<T>(backend: string, fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  return fn();
}

interface Case {
  batch: number;
  height: number;
  width: number;
  inC: number;
  outC: number;
  /** Depthwise only: output channels per input channel. */
  multiplier: number;
  kernel: number;
  stride: 1 | 2;
  pad: 'same' | 'valid';
  dilation: 1 | 2;
  seed: number;
}

function randomCases(seed: number, count: number): Case[] {
  const rng = seedrandom(String(seed));
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
  const cases: Case[] = [];
  while (cases.length < count) {
    const kernel = pick([1, 3, 5]);
    const c: Case = {
      batch: int(1, 8),
      height: int(kernel, 17),
      width: int(kernel, 17),
      inC: int(1, 24),
      outC: int(1, 24),
      multiplier: pick([1, 1, 2, 3]),
      kernel,
      stride: pick([1, 2] as const),
      pad: pick(['same', 'valid'] as const),
      dilation: 1,
      seed: int(0, 1e6),
    };
    cases.push(c);
  }
  return cases;
}

function data(shape: number[], seed: number): Float32Array {
  const rng = seedrandom(String(seed));
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng() * 2 - 1);
}

/** Gradients of sum(conv(x, w) * r) w.r.t. x and w: exercises both backprop kernels. */
function convGrads(c: Case, depthwise: boolean) {
  const xShape = [c.batch, c.height, c.width, c.inC] as const;
  const wShape = depthwise ? ([c.kernel, c.kernel, c.inC, c.multiplier] as const) : ([c.kernel, c.kernel, c.inC, c.outC] as const);
  const x = tf.tensor4d(data([...xShape], c.seed), [...xShape]);
  const w = tf.tensor4d(data([...wShape], c.seed + 1), [...wShape]);
  const forward = (xx: tf.Tensor4D, ww: tf.Tensor4D) =>
    depthwise ? tf.depthwiseConv2d(xx, ww, c.stride, c.pad, 'NHWC', c.dilation) : tf.conv2d(xx, ww, c.stride, c.pad, 'NHWC', c.dilation);
  const outShape = forward(x, w).shape;
  const r = tf.tensor(data(outShape, c.seed + 2), outShape);
  const [dx, dw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(forward(xx as tf.Tensor4D, ww as tf.Tensor4D), r)))([x, w]);
  const result = { dx: dx!.dataSync().slice(), dw: dw!.dataSync().slice() };
  tf.dispose([x, w, r, dx!, dw!]);
  return result;
}

const TOLERANCE = 1e-5;

for (const depthwise of [false, true]) {
  const label = depthwise ? 'depthwise conv' : 'conv';
  test.serial(`${label}: wasm gradients match the cpu reference on 40 random shapes`, async (t) => {
    const cases = randomCases(depthwise ? 2 : 1, 40);
    for (const c of cases) {
      const expected = await onBackend('cpu', () => convGrads(c, depthwise));
      const actual = await onBackend('wasm', () => convGrads(c, depthwise));
      const dxErr = relativeError(actual.dx, expected.dx);
      const dwErr = relativeError(actual.dw, expected.dw);
      t.true(dxErr < TOLERANCE && dwErr < TOLERANCE, `${JSON.stringify(c)}: dx ${dxErr}, dw ${dwErr}`);
    }
  });
}

test.serial('matMul with every transpose combination matches the cpu reference (values and gradients)', async (t) => {
  const rng = seedrandom('matmul');
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  for (let i = 0; i < 24; i++) {
    const [m, k, n] = [int(1, 70), int(1, 70), int(1, 70)];
    const transposeA = i % 2 === 1;
    const transposeB = i % 4 >= 2;
    const aShape = transposeA ? [k, m] : [m, k];
    const bShape = transposeB ? [n, k] : [k, n];
    const run = () => {
      const a = tf.tensor2d(data(aShape, i), aShape as [number, number]);
      const b = tf.tensor2d(data(bShape, i + 100), bShape as [number, number]);
      const product = tf.matMul(a, b, transposeA, transposeB);
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.square(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, transposeA, transposeB))),
      )([a, b]);
      const out = { product: product.dataSync().slice(), da: da!.dataSync().slice(), db: db!.dataSync().slice() };
      tf.dispose([a, b, product, da!, db!]);
      return out;
    };
    const expected = await onBackend('cpu', run);
    const actual = await onBackend('wasm', run);
    for (const key of ['product', 'da', 'db'] as const) {
      const err = relativeError(actual[key], expected[key]);
      t.true(err < TOLERANCE, `${m}x${k}x${n} tA=${transposeA} tB=${transposeB} ${key}: ${err}`);
    }
  }
});

test.serial('gather gradients (UnsortedSegmentSum) match the cpu reference', async (t) => {
  const run = () => {
    const table = tf.tensor2d(data([7, 5], 1), [7, 5]);
    const ids = tf.tensor1d([0, 3, 3, 6, 1, 0, 3], 'int32');
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, ids), tf.tensor2d(data([7, 5], 2), [7, 5]))))(table);
    const values = grad.dataSync().slice();
    tf.dispose([table, ids, grad]);
    return values;
  };
  const expected = await onBackend('cpu', run);
  const actual = await onBackend('wasm', run);
  t.true(relativeError(actual, expected) < TOLERANCE);
});

test.serial('slice, split, unstack, row gather and concat match the cpu reference for every rank and dtype', async (t) => {
  const rng = seedrandom('slice');
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  for (let i = 0; i < 30; i++) {
    const rank = 1 + (i % 5);
    const shape = Array.from({ length: rank }, () => int(1, 6));
    const begin = shape.map((d) => int(0, d - 1));
    const size = shape.map((d, a) => int(1, d - begin[a]!));
    const axis = int(0, rank - 1);
    const dtype = i % 3 === 2 ? 'int32' : 'float32';
    const run = () => {
      const x = tf.tensor(
        Array.from(data(shape, i), (v) => (dtype === 'int32' ? Math.round(v * 100) : v)),
        shape,
        dtype,
      );
      const rows = tf.tensor1d([shape[0]! - 1, 0, Math.floor(shape[0]! / 2), 0], 'int32');
      const parts = [
        tf.slice(x, begin, size),
        ...tf.split(
          x,
          [size[axis]!, shape[axis]! - size[axis]!].filter((d) => d > 0),
          axis,
        ),
        ...tf.unstack(x, axis),
        tf.gather(x, rows),
        tf.concat(
          [
            x,
            tf.slice(
              x,
              begin.map((b, a) => (a === axis ? b : 0)),
              shape.map((d, a) => (a === axis ? size[a]! : d)),
            ),
            x,
          ],
          axis,
        ),
      ];
      const values = parts.map((p) => ({ shape: p.shape, values: Array.from(p.dataSync()) }));
      tf.dispose([x, rows, ...parts]);
      return values;
    };
    const expected = await onBackend('cpu', run);
    const actual = await onBackend('wasm', run);
    t.deepEqual(actual, expected, `shape ${shape} begin ${begin} size ${size} axis ${axis} ${dtype}`);
  }
});

test.serial('a float32 one-hot holds ones (the backend wrote int32 bits)', async (t) => {
  await tf.setBackend('wasm');
  const encoded = tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3, 1, 0, 'float32');
  t.deepEqual(Array.from(encoded.dataSync()), [1, 0, 0, 0, 0, 1, 0, 1, 0]);
  t.deepEqual(Array.from(tf.oneHot(tf.tensor1d([1], 'int32'), 2, 5, -1).dataSync()), [-1, 5]);
});

test.serial('every project kernel stays registered for wasm after the backend starts', async (t) => {
  await tf.setBackend('wasm');
  t.deepEqual(activeTrainingKernels().sort(), [
    'BatchMatMul',
    'Concat',
    'Conv2DBackpropFilter',
    'Conv2DBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
    'GatherV2',
    'OneHot',
    'Slice',
    'SplitV',
    'Unpack',
    'UnsortedSegmentSum',
  ]);
});
