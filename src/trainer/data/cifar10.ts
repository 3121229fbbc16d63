/**
 * CIFAR-10 in its binary format (the "binary version" archive, extracted): data_batch_1..5.bin
 * for training, test_batch.bin for test. Each record is 1 label byte and 3,072 image bytes
 * (1,024 red, then green, then blue, row-major). Validation is 5,000 training images chosen with
 * a fixed seed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../common/errors.js';
import { derive, shuffle } from '../../common/rng.js';
import { channelStats, type ImageDataset, type ImageSplit, takeSplit } from './dataset.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const SIDE = 32;
const PIXELS = SIDE * SIDE;
const RECORD = 1 + 3 * PIXELS;
const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILE = 'test_batch.bin';
const VALIDATION_COUNT = 5000;

/** Reads records of one or more batch files into HWC uint8 images. */
function readBatches(files: string[]): ImageSplit {
  const buffers = files.map((file) => {
    const bytes = readFileSync(file);
    if (bytes.length === 0 || bytes.length % RECORD !== 0) {
      throw new InputError(`${file}: not a CIFAR-10 binary batch (size ${bytes.length} is not a multiple of ${RECORD}-byte records)`);
    }
    return bytes;
  });
  const count = buffers.reduce((n, b) => n + b.length / RECORD, 0);
  const images = new Uint8Array(count * 3 * PIXELS);
  const labels = new Uint8Array(count);
  let i = 0;
  for (const bytes of buffers) {
    for (let r = 0; r < bytes.length; r += RECORD, i++) {
      const label = bytes[r]!;
      if (label > 9) throw new InputError(`${files.join(', ')}: record ${i} has label ${label}, CIFAR-10 labels are 0-9`);
      labels[i] = label;
      const out = i * 3 * PIXELS;
      for (let p = 0; p < PIXELS; p++) {
        images[out + 3 * p] = bytes[r + 1 + p]!;
        images[out + 3 * p + 1] = bytes[r + 1 + PIXELS + p]!;
        images[out + 3 * p + 2] = bytes[r + 1 + 2 * PIXELS + p]!;
      }
    }
  }
  return { images, labels, count };
}

export function loadCifar10(dir: string): ImageDataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new InputError(`dataset cifar10:${dir}: no such directory (extract the CIFAR-10 binary archive there)`);
  const trainFiles = TRAIN_FILES.map((f) => path.join(dir, f)).filter((f) => existsSync(f));
  const testFile = path.join(dir, TEST_FILE);
  if (trainFiles.length === 0 || !existsSync(testFile)) {
    throw new InputError(
      `dataset cifar10:${dir}: expected data_batch_1.bin ... data_batch_5.bin and test_batch.bin (the CIFAR-10 binary version)`,
    );
  }
  const all = readBatches(trainFiles);
  const order = shuffle(
    Array.from({ length: all.count }, (_, i) => i),
    derive('cifar10-split-v1'),
  );
  const validationCount = Math.min(VALIDATION_COUNT, Math.floor(all.count / 10));
  const train = takeSplit(all, order.slice(validationCount) as number[], 3 * PIXELS);
  return {
    name: `cifar10:${dir}`,
    classNames: CIFAR10_CLASSES,
    height: SIDE,
    width: SIDE,
    channels: 3,
    train,
    validation: takeSplit(all, order.slice(0, validationCount) as number[], 3 * PIXELS),
    test: readBatches([testFile]),
    ...channelStats(train, 3),
    splitNote: `validation: ${validationCount} training images, seed "cifar10-split-v1"; test: test_batch.bin`,
  };
}
