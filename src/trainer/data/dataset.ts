/**
 * Image classification data held in memory as uint8 HWC images: small proxy tasks (Fashion-MNIST,
 * CIFAR-10, a folder of images) fit easily, and batches are then assembled without any IO.
 */
export interface ImageSplit {
  /** count x height x width x channels bytes. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface ImageDataset {
  /** e.g. `fashion-mnist`, `cifar10:/data/cifar`. */
  name: string;
  classNames: string[];
  height: number;
  width: number;
  channels: number;
  train: ImageSplit;
  validation: ImageSplit;
  test: ImageSplit;
  /** Per-channel mean and std of the training images, on the 0..1 scale. */
  mean: number[];
  std: number[];
  /** How the split was made, for the record. */
  splitNote: string;
}

export type SplitName = 'train' | 'validation' | 'test';

export function channelStats(split: ImageSplit, channels: number): { mean: number[]; std: number[] } {
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  const { images } = split;
  for (let i = 0; i < images.length; i++) {
    const v = images[i]! / 255;
    sum[i % channels]! += v;
    sumSq[i % channels]! += v * v;
  }
  const n = images.length / channels;
  const mean = Array.from(sum, (s) => s / n);
  const std = Array.from(sumSq, (s, c) => Math.sqrt(Math.max(s / n - mean[c]! ** 2, 1e-12)));
  return { mean, std };
}

/** Selects images by index into a new split. */
export function takeSplit(source: ImageSplit, indices: ArrayLike<number>, imageBytes: number): ImageSplit {
  const images = new Uint8Array(indices.length * imageBytes);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]!;
    images.set(source.images.subarray(from * imageBytes, (from + 1) * imageBytes), i * imageBytes);
    labels[i] = source.labels[from]!;
  }
  return { images, labels, count: indices.length };
}
