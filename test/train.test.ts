import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DivergedError, InputError, InterruptedError } from '../src/common/errors.js';
import { parseWith } from '../src/common/validate.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { buildModel } from '../src/trainer/build-model.js';
import { assignWeights, loadCheckpoint } from '../src/trainer/checkpoint.js';
import { trainConfig } from '../src/trainer/config.js';
import { ImageBatcher } from '../src/trainer/data/batches.js';
import { loadFashionMnist } from '../src/trainer/data/fashion-mnist.js';
import { tf } from '../src/trainer/tf.js';
import { evaluate, scoringBatchSize, TrainerStateSchema, train } from '../src/trainer/train.js';
import '../src/trainer/layers.js';
import { syntheticDataset, tinySpec } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-train-'));
const parseState = (data: unknown, file: string) => parseWith(TrainerStateSchema, data, file);

test.before(async () => {
  await prepareBackend('auto');
});

test.serial('a tiny spec overfits 512 Fashion-MNIST images to >= 95% training accuracy', async (t) => {
  const dataset = loadFashionMnist();
  const spec = tinySpec();
  const dir = tmp();
  const config = trainConfig({
    epochs: 30,
    trainSamples: 512,
    validationSamples: 256,
    augment: false,
    labelSmoothing: 0,
    optimizer: 'rmsprop',
    learningRate: 0.005,
    warmupEpochs: 1,
    seed: 1,
  });
  const result = await train({ spec, dataset, config, outDir: dir, evaluateTest: false });
  t.log(`last epoch train accuracy ${result.history.at(-1)!.trainTop1}, ${result.imagesPerSec.toFixed(0)} img/s on ${result.backend}`);
  // Accuracy of the saved model on the same 512 images, in inference mode.
  const ckpt = loadCheckpoint(dir, parseState);
  const model = buildModel(ckpt.spec);
  assignWeights(model, ckpt.weights, ckpt.dir);
  const trainTop1 = evaluate(model, new ImageBatcher(dataset, 'train', { resolution: 28, channels: 1, augment: false, limit: 512 }));
  model.dispose();
  t.true(trainTop1 >= 0.95, `inference-mode training accuracy ${trainTop1}`);
});

test('evaluate scores the same at any number of images per pass; by default a pass holds 256 images of 32x32, fewer of larger ones', (t) => {
  const model = buildModel(tinySpec({ resolution: 32 }), { seed: 3 });
  const batcher = new ImageBatcher(loadFashionMnist(), 'validation', { resolution: 32, channels: 1, augment: false, limit: 600 });
  const byDefault = evaluate(model, batcher);
  t.is(evaluate(model, batcher, 32), byDefault);
  t.is(evaluate(model, batcher, 7), byDefault);
  model.dispose();
  const passFor = (resolution: number) => {
    const built = buildModel(tinySpec({ resolution }));
    const size = scoringBatchSize(built);
    built.dispose();
    return size;
  };
  t.deepEqual([32, 64, 224].map(passFor), [256, 64, 32]);
});

async function runToEnd(dir: string, abortAfterSteps?: number) {
  const controller = new AbortController();
  let steps = 0;
  const request = {
    spec: tinySpec({ dropout: 0.2 }),
    dataset: syntheticDataset(),
    config: trainConfig({ epochs: 2, batchSize: 32, seed: 5, ema: 0.99 }),
    outDir: dir,
    evaluateTest: false,
    signal: controller.signal,
    onProgress: () => {
      if (abortAfterSteps !== undefined && ++steps === abortAfterSteps) controller.abort();
    },
  };
  try {
    return await train(request);
  } catch (err) {
    if (!(err instanceof InterruptedError)) throw err;
    return train({ ...request, resume: true, signal: new AbortController().signal });
  }
}

test.serial('an interrupted run resumes to exactly the weights of an uninterrupted one', async (t) => {
  const straight = tmp();
  const interrupted = tmp();
  await runToEnd(straight);
  await runToEnd(interrupted, 11); // epoch 1 has 8 steps: stops in epoch 2
  const a = loadCheckpoint(straight, parseState);
  const b = loadCheckpoint(interrupted, parseState);
  t.is(b.state.globalStep, a.state.globalStep);
  t.is(a.weights.length, b.weights.length);
  a.weights.forEach((w, i) => {
    t.deepEqual(Array.from(b.weights[i]!.values), Array.from(w.values), w.name);
  });
  t.deepEqual(
    b.slots.map((s) => Array.from(s)),
    a.slots.map((s) => Array.from(s)),
  );
});

test.serial('interrupting saves a checkpoint and says how to continue', async (t) => {
  const dir = tmp();
  const controller = new AbortController();
  const err = await t.throwsAsync(
    train({
      spec: tinySpec(),
      dataset: syntheticDataset(),
      config: trainConfig({ epochs: 1 }),
      outDir: dir,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }),
    { instanceOf: InterruptedError },
  );
  t.regex(err!.message, /interrupted at epoch 1, step 1: progress saved in .*checkpoint; continue with --resume/);
  const state = loadCheckpoint(dir, parseState).state;
  t.is(state.stepInEpoch, 1);
  t.is(state.epoch, 0);
});

test.serial('a NaN loss stops with a clear error and keeps the last good checkpoint', async (t) => {
  const dir = tmp();
  const spec = tinySpec();
  await train({ spec, dataset: syntheticDataset(), config: trainConfig({ epochs: 1 }), outDir: dir, evaluateTest: false });
  const before = readFileSync(path.join(dir, 'checkpoint', 'weights.bin'));
  const poisoned = syntheticDataset({ std: 0 }); // inputs become infinite
  const err = await t.throwsAsync(train({ spec, dataset: poisoned, config: trainConfig({ epochs: 2 }), outDir: dir, resume: true }), {
    instanceOf: DivergedError,
  });
  t.regex(err!.message, /loss became NaN at epoch 2, step 1 .*lower --lr.*checkpoint of epoch 1 is kept/);
  t.deepEqual(readFileSync(path.join(dir, 'checkpoint', 'weights.bin')), before);
});

test.serial('resuming with another spec is refused', async (t) => {
  const dir = tmp();
  await train({ spec: tinySpec(), dataset: syntheticDataset(), config: trainConfig({ epochs: 1 }), outDir: dir, evaluateTest: false });
  const other = tinySpec({ classes: 10, dropout: 0.5 });
  const err = await t.throwsAsync(
    train({ spec: other, dataset: syntheticDataset(), config: trainConfig({ epochs: 2 }), outDir: dir, resume: true }),
    { instanceOf: InputError },
  );
  t.regex(err!.message, /checkpoint belongs to another spec/);
});

test.serial('a checkpoint is a standard TFJS LayersModel: tf.loadLayersModel reads it with identical outputs', async (t) => {
  const dir = tmp();
  const spec = tinySpec();
  await train({ spec, dataset: syntheticDataset(), config: trainConfig({ epochs: 1 }), outDir: dir, evaluateTest: false });
  const ckptDir = path.join(dir, 'checkpoint');
  const modelJson = JSON.parse(readFileSync(path.join(ckptDir, 'model.json'), 'utf8'));
  t.is(modelJson.format, 'layers-model');
  const classNames = new Set(JSON.stringify(modelJson.modelTopology).match(/"class_name":"\w+"/g));
  t.true(classNames.has('"class_name":"BatchNormalization"'));
  const weightsBin = readFileSync(path.join(ckptDir, 'weights.bin'));
  const weightData = weightsBin.buffer.slice(weightsBin.byteOffset, weightsBin.byteOffset + weightsBin.length);
  const loaded = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData }),
  );
  const ckpt = loadCheckpoint(dir, parseState);
  const rebuilt = buildModel(ckpt.spec);
  assignWeights(rebuilt, ckpt.weights, ckpt.dir);
  const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 3);
  t.deepEqual(Array.from((loaded.predict(x) as tf.Tensor).dataSync()), Array.from((rebuilt.predict(x) as tf.Tensor).dataSync()));
  t.true(ckpt.weights.some((w) => w.name === 'b1.se/reduce_kernel'));
  t.true(existsSync(path.join(ckptDir, 'spec.json')));
});
