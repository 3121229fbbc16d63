import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { ValidationError } from '../src/common/errors.js';
import { opKey, parseOpKey, specOps } from '../src/latency-model/predict/ops.js';
import { parseArchSpec } from '../src/search-space/archspec.js';
import { specCost } from '../src/search-space/cost.js';
import { resolve } from '../src/search-space/resolve.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { buildModel } from '../src/trainer/build-model.js';
import { trainConfig } from '../src/trainer/config.js';
import { loadMosaics } from '../src/trainer/data/mosaic.js';
import { meanIoU, SegmentationBatcher } from '../src/trainer/data/segmentation-batches.js';
import { type Box, decodeBox, defaultBoxes, encodeBox, iou, nonMaxSuppression, postprocess } from '../src/trainer/detection.js';
import { tf } from '../src/trainer/tf.js';
import { train } from '../src/trainer/train.js';

test.before(async () => {
  await prepareBackend('auto');
});

test("LR-ASPP on MobileNetV3-Large: torchvision's 3,221,538 params and 2,086M MAdds at 520x520", (t) => {
  const spec = zooSpec('lraspp-mobilenetv3-large');
  const cost = specCost(spec);
  t.is(cost.params, 3_221_538);
  t.is(Math.round(cost.madds / 1e6), 2086);
  const decoder = cost.units.find((u) => u.unit.kind === 'lraspp')!;
  t.is(decoder.params, 249_586);
  t.deepEqual(
    resolve(spec).taps.map((tap) => [tap.name, tap.outputStride, [...tap.shape]]),
    [['low', 8, [65, 65, 40]]],
  );
  t.deepEqual([...decoder.unit.inShape], [33, 33, 960], 'the dilated last stage keeps output stride 16');
});

test("SSDLite on MobileNetV3-Large (reduced tail): torchvision's 3,440,060 params, 2,072,672 of them in the backbone", (t) => {
  const spec = zooSpec('ssdlite-mobilenetv3-large');
  const cost = specCost(spec);
  t.is(cost.params, 3_440_060);
  const heads = cost.units.filter((u) => u.unit.kind === 'ssd-head').reduce((s, u) => s + u.params, 0);
  t.is(heads, 1_367_388);
  t.is(cost.params - heads, 2_072_672);
  const net = resolve(spec);
  t.deepEqual(
    net.taps.map((tap) => tap.shape[2]),
    [672, 480, 512, 256, 256, 128],
  );
  t.deepEqual(
    net.taps.map((tap) => tap.shape[0]),
    [20, 10, 5, 3, 2, 1],
  );
});

test('dense heads: bad taps, dilations and classes are one-line errors naming the field', (t) => {
  const seg = structuredClone(zooSpec('lraspp-mobilenetv3-small')) as any;
  seg.task.lowStride = 4 * 7;
  t.throws(() => parseArchSpec(seg, 'seg.json'), {
    instanceOf: ValidationError,
    message: /seg\.json: \$\.task\.lowStride: no features at output stride 28: the backbone has output strides 2, 4, 8, 16/,
  });
  const dilated = structuredClone(zooSpec('lraspp-mobilenetv3-small')) as any;
  dilated.blocks[1].dilation = 2;
  t.throws(() => parseArchSpec(dilated, 'd.json'), {
    instanceOf: ValidationError,
    message: /\$\.blocks\[1\]\.dilation: a dilated \(atrous\) block must have stride 1, not 2/,
  });
  const det = structuredClone(zooSpec('ssdlite-mobilenetv3-small')) as any;
  det.task.taps[0].stride = 64;
  t.throws(() => parseArchSpec(det, 'det.json'), {
    instanceOf: ValidationError,
    message: /\$\.task\.taps\[0\]\.stride: no features at output stride 64/,
  });
  const zero = structuredClone(zooSpec('ssdlite-mobilenetv3-small')) as any;
  zero.classes = 0;
  t.throws(() => parseArchSpec(zero, 'z.json'), { instanceOf: ValidationError, message: /\$\.classes: Too small/ });
});

test('decoder ops have keys that parse back', (t) => {
  for (const name of ['lraspp-mobilenetv3-large', 'ssdlite-mobilenetv3-small']) {
    for (const op of specOps(zooSpec(name))) t.is(opKey(parseOpKey(op.key)!), op.key, op.key);
  }
  t.true(
    specOps(zooSpec('lraspp-mobilenetv3-large')).some((o) => o.key.includes('-d:2-')),
    'the dilation is part of the key',
  );
});

test("default boxes follow torchvision's SSD: 3234 for SSDLite320, scales 0.2..0.95", (t) => {
  const task = { aspectRatios: [2, 3], minScale: 0.2, maxScale: 0.95 };
  const anchors = defaultBoxes(task, [
    [20, 20],
    [10, 10],
    [5, 5],
    [3, 3],
    [2, 2],
    [1, 1],
  ]);
  t.is(anchors.length / 4, 3234);
  t.deepEqual(
    Array.from(anchors.subarray(0, 4)).map((v) => Number(v.toFixed(4))),
    [0.025, 0.025, 0.2, 0.2],
  );
  const last = Array.from(anchors.subarray(anchors.length - 24, anchors.length - 20)).map((v) => Number(v.toFixed(4)));
  t.deepEqual(last, [0.5, 0.5, 0.95, 0.95]);
});

test('box encoding and decoding are inverse; NMS keeps the best of overlapping boxes per class', (t) => {
  const anchor = [0.5, 0.5, 0.3, 0.2];
  const box: Box = [0.3, 0.35, 0.62, 0.7];
  const back = decodeBox(encodeBox(box, anchor), anchor);
  back.forEach((v, i) => {
    t.true(Math.abs(v - box[i]!) < 1e-6);
  });
  t.is(iou([0, 0, 1, 1], [0.5, 0, 1.5, 1]), 1 / 3);
  const kept = nonMaxSuppression(
    [
      { box: [0, 0, 1, 1], label: 1, score: 0.9 },
      { box: [0.05, 0, 1, 1], label: 1, score: 0.8 },
      { box: [0.05, 0, 1, 1], label: 2, score: 0.7 },
      { box: [2, 2, 3, 3], label: 1, score: 0.6 },
    ],
    0.5,
  );
  t.deepEqual(
    kept.map((d) => d.score),
    [0.9, 0.7, 0.6],
  );
  // One anchor, two classes + background: the confident class and its decoded box come out.
  const detections = postprocess(Float32Array.from([0, 5, 0]), Float32Array.from(encodeBox(box, anchor)), Float32Array.from(anchor), 3, {
    scoreThreshold: 0.5,
  });
  t.is(detections.length, 1);
  t.is(detections[0]!.label, 1);
});

test('mosaics: deterministic, labels where items are, boxes around them', (t) => {
  const mosaics = loadMosaics(48, { train: 20, validation: 5, test: 5 });
  const a = mosaics.mosaic('train', 3);
  const b = mosaics.mosaic('train', 3);
  t.deepEqual(a, b);
  t.true(a.boxes.length >= 1 && a.boxes.length <= 4);
  t.true(a.labels.some((l) => l > 0) && a.labels.some((l) => l === 0));
  for (let p = 0; p < a.labels.length; p++) t.is(a.labels[p]! > 0, a.image[p]! > 48);
  for (const { box, label } of a.boxes) {
    t.true(box[0] < box[2] && box[1] < box[3] && box.every((v) => v >= 0 && v <= 1));
    t.true(label >= 1 && label <= 10);
  }
  t.is(meanIoU(Float64Array.from([5, 0, 0, 5]), 2), 1);
  t.is(meanIoU(Float64Array.from([1, 1, 1, 1]), 2), 1 / 3);
});

test.serial('an LR-ASPP network trains on the mosaics and reports mean IoU', async (t) => {
  const spec = zooSpec('lraspp-mobilenetv3-small', { resolution: 32, classes: 11 });
  const mosaics = loadMosaics(32, { train: 128, validation: 32, test: 32 });
  const batcher = new SegmentationBatcher(mosaics, 'validation', { channels: 3, augment: false });
  const batch = batcher.batch([0, 1]);
  t.deepEqual(batch.y.shape, [2, 32, 32, 11]);
  tf.dispose([batch.x, batch.y]);
  const outDir = mkdtempSync(path.join(tmpdir(), 'nas-seg-'));
  const logged: Record<string, unknown>[] = [];
  const result = await train({
    spec,
    dataset: mosaics,
    config: trainConfig({ epochs: 2, batchSize: 16, labelSmoothing: 0 }),
    evaluateTest: true,
    outDir,
    log: pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) }),
  });
  const epochs = logged.filter((l) => /^epoch \d/.test(l['msg'] as string));
  t.is(epochs.length, 2);
  t.like(epochs[1], { trainPixelAccuracy: result.history[1]!.trainTop1, valMeanIou: result.valTop1 });
  t.false('valTop1' in epochs[1]!, 'a segmentation log names its metrics');
  t.true(result.valTop1 > 0 && result.valTop1 <= 1, `mean IoU ${result.valTop1}`);
  const state = JSON.parse(readFileSync(path.join(outDir, 'checkpoint', 'state.json'), 'utf8')) as { trainImages: number };
  t.is(state.trainImages, 2 * 128, 'throughput counts images, not labelled pixels');
  t.true(result.history[1]!.trainLoss < result.history[0]!.trainLoss, 'the per-pixel loss falls');
  const model = buildModel(spec);
  t.deepEqual((model.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor).shape, [1, 32, 32, 11]);
  model.dispose();
});
