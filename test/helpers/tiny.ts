/** Tiny specs and datasets that train in seconds. */

import { derive } from '../../src/common/rng.js';
import { ARCHSPEC_SCHEMA_VERSION, type ArchSpec, parseArchSpec } from '../../src/search-space/archspec.js';
import type { ImageDataset, ImageSplit } from '../../src/trainer/data/dataset.js';

export function tinySpec(
  options: { resolution?: number; channels?: number; classes?: number; name?: string; dropout?: number } = {},
): ArchSpec {
  return parseArchSpec({
    schemaVersion: ARCHSPEC_SCHEMA_VERSION,
    kind: 'archspec',
    name: options.name ?? 'tiny',
    provenance: { command: 'test', seed: null },
    input: { resolution: options.resolution ?? 28, channels: options.channels ?? 1 },
    stem: { id: 'stem', kernel: 3, stride: 2, out: 16, activation: 'hswish' },
    blocks: [
      {
        type: 'bneck',
        id: 'b1',
        kernel: 3,
        stride: 1,
        exp: 32,
        out: 16,
        activation: 'relu',
        residual: true,
        se: { squeeze: 8, gate: 'hsigmoid', activation: 'relu' },
      },
      { type: 'bneck', id: 'b2', kernel: 3, stride: 2, exp: 48, out: 24, activation: 'hswish', residual: false, se: null },
    ],
    head: { conv: { id: 'head_conv', out: 64, activation: 'hswish' }, pool: 'avg', preLogits: null },
    classes: options.classes ?? 10,
    dropout: options.dropout ?? 0,
  });
}

function randomSplit(count: number, side: number, channels: number, classes: number, seed: string): ImageSplit {
  const rng = derive(seed);
  const labels = Uint8Array.from({ length: count }, () => Math.floor(rng() * classes));
  // Class-dependent brightness so that a model can learn something.
  const images = new Uint8Array(count * side * side * channels);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < side * side * channels; p++)
      images[i * side * side * channels + p] = Math.min(255, labels[i]! * 20 + Math.floor(rng() * 60));
  }
  return { images, labels, count };
}

/** A synthetic dataset; `std` can be forced (0 makes every input infinite: a NaN loss). */
export function syntheticDataset(
  options: { count?: number; side?: number; channels?: number; classes?: number; std?: number; name?: string } = {},
): ImageDataset {
  const { count = 256, side = 28, channels = 1, classes = 10 } = options;
  return {
    name: options.name ?? 'synthetic',
    classNames: Array.from({ length: classes }, (_, i) => `c${i}`),
    height: side,
    width: side,
    channels,
    train: randomSplit(count, side, channels, classes, 'train'),
    validation: randomSplit(64, side, channels, classes, 'val'),
    test: randomSplit(64, side, channels, classes, 'test'),
    mean: Array(channels).fill(0.3),
    std: Array(channels).fill(options.std ?? 0.3),
    splitNote: 'synthetic',
  };
}
