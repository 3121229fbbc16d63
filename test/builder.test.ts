import test from 'ava';
import { specCost } from '../src/search-space/cost.js';
import { resolve } from '../src/search-space/resolve.js';
import { zooNames, zooSpec } from '../src/search-space/zoo/index.js';
import { selectBackend } from '../src/trainer/backend.js';
import { buildModel, trainableParams } from '../src/trainer/build-model.js';
import { hardSigmoid, hardSwish, SqueezeExcite } from '../src/trainer/layers.js';
import { tf } from '../src/trainer/tf.js';

test.before(async () => {
  await selectBackend('wasm');
});

for (const name of zooNames()) {
  test(`${name}: builder params == analytic params; forward pass at 32x32 on wasm`, (t) => {
    t.is(tf.getBackend(), 'wasm');
    const spec = zooSpec(name, { resolution: 32 });
    const model = buildModel(spec);
    try {
      t.is(trainableParams(model), specCost(zooSpec(name)).params);
      const outputs = tf.tidy(() => [model.predict(tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1))].flat() as tf.Tensor[]);
      const expected: Record<string, number[][]> = {
        classification: [[2, spec.classes]],
        segmentation: [[2, 32, 32, spec.classes]],
        // SSDLite at 32x32: taps at 2x2 (C4 expansion) and 1x1, four extras at 1x1, 6 anchors each.
        detection: [
          [2, (4 + 1 + 4) * 6, spec.classes],
          [2, (4 + 1 + 4) * 6, 4],
        ],
      };
      t.deepEqual(
        outputs.map((o) => o.shape),
        expected[spec.task?.type ?? 'classification'],
      );
      t.true(outputs.every((o) => o.dataSync().every(Number.isFinite)));
      tf.dispose(outputs);
    } finally {
      model.dispose();
    }
  });
}

test('layer and weight names come from the spec ids', (t) => {
  const spec = zooSpec('mobilenetv3-small-1.0', { resolution: 32, classes: 10 });
  const model = buildModel(spec);
  const layerNames = new Set(model.layers.map((l) => l.name));
  for (const unit of resolve(spec).units) for (const layer of unit.layers) t.true(layerNames.has(layer.name), layer.name);
  // tfjs makes variable names unique per process; saved weights use the original names.
  const weightNames = model.weights.map((w) => w.originalName);
  t.true(weightNames.includes('b4.expand/kernel'));
  t.true(weightNames.includes('b4.dw_bn/gamma'));
  t.true(weightNames.includes('b4.se/reduce_kernel'));
  t.true(weightNames.includes('classifier/kernel'));
  t.true(layerNames.has('b5.add') && !layerNames.has('b4.add'));
  model.dispose();
});

test('the same seed gives the same initial weights, another seed different ones', (t) => {
  const spec = zooSpec('mobilenetv3-small-0.35', { resolution: 32, classes: 10 });
  const weights = (seed: number) => {
    const model = buildModel(spec, { seed });
    const values = model.getWeights().map((w) => Array.from(w.dataSync().slice(0, 8)));
    model.dispose();
    return values;
  };
  t.deepEqual(weights(7), weights(7));
  t.notDeepEqual(weights(7), weights(8));
});

test('a built model saves and loads back through tf.io with identical outputs', async (t) => {
  const spec = zooSpec('mobilenetv3-small-0.5', { resolution: 32, classes: 10 });
  const model = buildModel(spec, { seed: 3 });
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const input = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 5);
  const a = model.predict(input) as tf.Tensor;
  const b = loaded.predict(input) as tf.Tensor;
  t.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
  t.is(trainableParams(loaded), trainableParams(model));
  tf.dispose([input, a, b]);
  model.dispose();
  loaded.dispose();
});

test('h-swish and h-sigmoid match their definitions', (t) => {
  const xs = [-4, -3, -1.5, 0, 1, 2.5, 3, 7];
  const hsig = Array.from(hardSigmoid(tf.tensor1d(xs)).dataSync());
  const hswish = Array.from(hardSwish(tf.tensor1d(xs)).dataSync());
  xs.forEach((x, i) => {
    const expected = Math.min(Math.max(x + 3, 0), 6) / 6;
    t.true(Math.abs(hsig[i]! - expected) < 1e-6);
    t.true(Math.abs(hswish[i]! - x * expected) < 1e-6);
  });
});

test('squeeze-and-excite computes pool, reduce, ReLU, expand, h-sigmoid, scale', (t) => {
  const layer = new SqueezeExcite({ squeeze: 1, activation: 'relu', gate: 'hsigmoid' });
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]); // channel 0: 1,3,5,7 (mean 4); channel 1: 2,4,6,8 (mean 5)
  layer.apply(x); // builds the weights
  layer.setWeights([tf.tensor2d([[0.5], [-0.1]]), tf.tensor1d([0.2]), tf.tensor2d([[1, -2]]), tf.tensor1d([0, 1])]);
  const y = Array.from((layer.apply(x) as tf.Tensor).dataSync());
  const hidden = Math.max(0, 4 * 0.5 + 5 * -0.1 + 0.2); // 1.7
  const gate = [hidden * 1 + 0, hidden * -2 + 1].map((v) => Math.min(Math.max(v + 3, 0), 6) / 6);
  const expected = [1, 2, 3, 4, 5, 6, 7, 8].map((v, i) => v * gate[i % 2]!);
  y.forEach((v, i) => {
    t.true(Math.abs(v - expected[i]!) < 1e-5, `${i}: ${v} vs ${expected[i]}`);
  });
});
