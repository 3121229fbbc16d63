import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../src/common/errors.js';
import { derive } from '../src/common/rng.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { ImageBatcher } from '../src/trainer/data/batches.js';
import { loadCifar10 } from '../src/trainer/data/cifar10.js';
import { loadFashionMnist } from '../src/trainer/data/fashion-mnist.js';
import { loadFolder } from '../src/trainer/data/folder.js';
import { type ImageDataset, loadDataset } from '../src/trainer/data/index.js';
import { tf } from '../src/trainer/tf.js';
import { syntheticDataset } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-data-'));

test.before(async () => {
  await prepareBackend('auto');
});

test('Fashion-MNIST: fixed stratified split 55,000 / 5,000 / 10,000, the same on every load', (t) => {
  const a = loadFashionMnist();
  t.deepEqual([a.train.count, a.validation.count, a.test.count], [55000, 5000, 10000]);
  const perClass = (labels: Uint8Array) => Array.from({ length: 10 }, (_, k) => labels.filter((l) => l === k).length);
  t.deepEqual(perClass(a.validation.labels), Array(10).fill(500));
  t.deepEqual(perClass(a.test.labels), Array(10).fill(1000));
  t.deepEqual(
    perClass(a.validation.labels.subarray(0, 1000)).every((n) => n > 50),
    true,
    'prefixes are balanced',
  );
  const b = loadFashionMnist();
  t.deepEqual(b.test.labels, a.test.labels);
  t.deepEqual(b.test.images.subarray(0, 5000), a.test.images.subarray(0, 5000));
  t.true(Math.abs(a.mean[0]! - 0.286) < 0.01 && Math.abs(a.std[0]! - 0.353) < 0.01);
});

test('Fashion-MNIST: a cache file that is not whole is rebuilt from the package, to the same splits', (t) => {
  const cached = loadFashionMnist();
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'nas-fmnist-cache-')), 'fashion-mnist.bin');
  writeFileSync(file, new Uint8Array(1000));
  const rebuilt = loadFashionMnist(file);
  t.is(statSync(file).size, 32 + 70_000 * (28 * 28 + 1), 'rewritten whole');
  for (const split of ['train', 'validation', 'test'] as const) {
    t.deepEqual(rebuilt[split].labels, cached[split].labels, split);
    t.true(Buffer.from(rebuilt[split].images).equals(Buffer.from(cached[split].images)), split);
  }
  t.deepEqual([rebuilt.mean, rebuilt.std], [cached.mean, cached.std]);
  t.deepEqual(loadFashionMnist(file).test.labels, cached.test.labels, 'read back from the rebuilt file');
});

function writeCifarBatch(file: string, labels: number[]) {
  const record = 1 + 3072;
  const bytes = new Uint8Array(labels.length * record);
  labels.forEach((label, i) => {
    bytes[i * record] = label;
    bytes.fill(10 + label, i * record + 1, i * record + 1025); // red plane
    bytes.fill(100, i * record + 1025, i * record + 2049); // green
    bytes.fill(200, i * record + 2049, i * record + 3073); // blue
  });
  writeFileSync(file, bytes);
}

test('CIFAR-10 binary batches become HWC images with labels', (t) => {
  const dir = tmp();
  writeCifarBatch(
    path.join(dir, 'data_batch_1.bin'),
    Array.from({ length: 40 }, (_, i) => i % 10),
  );
  writeCifarBatch(path.join(dir, 'test_batch.bin'), [3, 7]);
  const data = loadDataset(`cifar10:${dir}`, 32) as ImageDataset;
  t.is(data.channels, 3);
  t.deepEqual([data.train.count, data.validation.count, data.test.count], [36, 4, 2]);
  t.deepEqual(Array.from(data.test.labels), [3, 7]);
  t.deepEqual(Array.from(data.test.images.subarray(0, 6)), [13, 100, 200, 13, 100, 200]);
  t.deepEqual(Array.from(data.test.images.subarray(3 * 1024 + 0, 3 * 1024 + 3)), [17, 100, 200]);
});

test('CIFAR-10: a wrong directory or a truncated file is a one-line InputError', (t) => {
  const dir = tmp();
  t.throws(() => loadCifar10(path.join(dir, 'nope')), { instanceOf: InputError, message: /no such directory/ });
  t.throws(() => loadCifar10(dir), { instanceOf: InputError, message: /expected data_batch_1\.bin/ });
  writeFileSync(path.join(dir, 'data_batch_1.bin'), new Uint8Array(100));
  writeFileSync(path.join(dir, 'test_batch.bin'), new Uint8Array(3073));
  t.throws(() => loadCifar10(dir), { instanceOf: InputError, message: /data_batch_1\.bin: not a CIFAR-10 binary batch/ });
});

function png(file: string, width: number, height: number, rgb: [number, number, number]) {
  const image = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) image.data.set([...rgb, 255], i * 4);
  writeFileSync(file, PNG.sync.write(image));
}

function jpg(file: string, width: number, height: number, rgb: [number, number, number]) {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([...rgb, 255], i * 4);
  writeFileSync(file, jpeg.encode({ data, width, height }, 95).data);
}

test('folder datasets: PNG and JPEG per class folder, resized, split 80/10/10', (t) => {
  const dir = tmp();
  for (const [k, name] of ['cats', 'dogs'].entries()) {
    mkdirSync(path.join(dir, name));
    for (let i = 0; i < 10; i++) {
      if (i % 2) png(path.join(dir, name, `${i}.png`), 20 + i, 12, [200 * k, 50, 50]);
      else jpg(path.join(dir, name, `${i}.jpg`), 16, 16 + i, [200 * k, 50, 50]);
    }
  }
  writeFileSync(path.join(dir, 'cats', 'notes.txt'), 'not an image');
  const data = loadFolder(dir, 8);
  t.deepEqual(data.classNames, ['cats', 'dogs']);
  t.is(data.channels, 3);
  t.deepEqual([data.train.count, data.validation.count, data.test.count], [16, 2, 2]);
  t.is(data.train.images.length, 16 * 8 * 8 * 3);
  const dog = data.train.labels.indexOf(1);
  t.true(Math.abs(data.train.images[dog * 192]! - 200) <= 3, 'red channel of a dog image');
});

test('folder datasets: a corrupt image names the file; a missing folder is an InputError', (t) => {
  const dir = tmp();
  for (const name of ['a', 'b']) {
    mkdirSync(path.join(dir, name));
    for (let i = 0; i < 3; i++) png(path.join(dir, name, `${i}.png`), 4, 4, [9, 9, 9]);
  }
  writeFileSync(path.join(dir, 'b', 'broken.png'), 'this is not a png');
  t.throws(() => loadFolder(dir, 8), { instanceOf: InputError, message: /broken\.png: corrupt or unsupported image/ });
  t.throws(() => loadFolder(path.join(dir, 'missing'), 8), { instanceOf: InputError, message: /no such directory/ });
  t.throws(() => loadDataset('imagenet', 32), {
    instanceOf: InputError,
    message: /unknown dataset "imagenet": use one of fashion-mnist, cifar10:PATH, folder:PATH/,
  });
});

test('batches: 28x28 grey padded to 32x32 black, normalised, replicated to RGB; smoothed one-hot targets', (t) => {
  const data = syntheticDataset({ count: 4 });
  const batcher = new ImageBatcher(data, 'train', { resolution: 32, channels: 3, augment: false, labelSmoothing: 0.1 });
  const { x, y, labels } = batcher.batch([2, 0]);
  t.deepEqual(x.shape, [2, 32, 32, 3]);
  const values = x.dataSync();
  const black = -0.3 / 0.3;
  t.true(Math.abs(values[0]! - black) < 1e-6, 'corner is padding');
  const raw = data.train.images[2 * 784]!; // image 2, pixel (0, 0) lands at (2, 2)
  const at = (2 * 32 + 2) * 3;
  t.true(Math.abs(values[at]! - (raw / 255 - 0.3) / 0.3) < 1e-5);
  t.is(values[at], values[at + 1]);
  t.is(values[at], values[at + 2]);
  const targets = y.dataSync();
  t.true(Math.abs(targets[labels[0]!]! - (0.9 + 0.01)) < 1e-6);
  t.true(Math.abs(Array.from(targets.subarray(0, 10)).reduce((a, b) => a + b, 0) - 1) < 1e-5);
  tf.dispose([x, y]);
});

test('batches: a 1-channel model cannot take RGB data', (t) => {
  const data = syntheticDataset({ channels: 3 });
  t.throws(() => new ImageBatcher(data, 'train', { resolution: 28, channels: 1, augment: false }), {
    instanceOf: InputError,
    message: /the model takes 1-channel input but dataset synthetic has 3 channels: set the spec's input\.channels to 3/,
  });
});

test('augmentation is reproducible from its seed and changes images', (t) => {
  const data = syntheticDataset({ count: 8 });
  const batcher = new ImageBatcher(data, 'train', { resolution: 28, channels: 1, augment: true });
  const a = batcher.batch([0, 1, 2, 3], derive('seed-a'));
  const b = batcher.batch([0, 1, 2, 3], derive('seed-a'));
  const plain = new ImageBatcher(data, 'train', { resolution: 28, channels: 1, augment: false }).batch([0, 1, 2, 3]);
  t.deepEqual(Array.from(a.x.dataSync()), Array.from(b.x.dataSync()));
  t.notDeepEqual(Array.from(a.x.dataSync()), Array.from(plain.x.dataSync()));
  tf.dispose([a.x, a.y, b.x, b.y, plain.x, plain.y]);
});
