/**
 * Batches of the mosaic segmentation task: normalised images (grey, replicated to RGB when the
 * model wants 3 channels) and one-hot per-pixel targets; training flips image and labels together.
 */
import { InputError } from '../../common/errors.js';
import type { Rng } from '../../common/rng.js';
import { computeTensor } from '../heap.js';
import type { tf } from '../tf.js';
import type { Batcher } from './batches.js';
import type { SplitName } from './dataset.js';
import type { MosaicDataset } from './mosaic.js';

export class SegmentationBatcher implements Batcher {
  readonly count: number;
  readonly classes: number;
  readonly kind = 'segmentation' as const;

  constructor(
    private readonly dataset: MosaicDataset,
    private readonly split: SplitName,
    private readonly options: { channels: number; augment: boolean; limit?: number },
  ) {
    if (options.channels !== 1 && options.channels !== 3)
      throw new InputError(`the model takes ${options.channels}-channel input; the mosaics are grey (1 channel, or 3 replicated)`);
    this.count = Math.min(dataset.counts[split], options.limit ?? Infinity);
    this.classes = dataset.classNames.length;
  }

  batch(indices: ArrayLike<number>, rng?: Rng): { x: tf.Tensor4D; y: tf.Tensor4D; labels: Uint8Array } {
    const n = indices.length;
    const S = this.dataset.size;
    const C = this.options.channels;
    const K = this.classes;
    const mosaics = Array.from({ length: n }, (_, b) => this.dataset.mosaic(this.split, indices[b]!));
    const flips = mosaics.map(() => Boolean(this.options.augment && rng && rng() < 0.5));
    const labels = new Uint8Array(n * S * S);
    mosaics.forEach((m, b) => {
      for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) labels[(b * S + r) * S + c] = m.labels[r * S + (flips[b] ? S - 1 - c : c)]!;
    });
    const scale = 1 / (255 * this.dataset.std[0]!);
    const shift = -this.dataset.mean[0]! / this.dataset.std[0]!;
    const x = computeTensor([n, S, S, C], [], (out) => {
      mosaics.forEach((m, b) => {
        for (let r = 0; r < S; r++) {
          for (let c = 0; c < S; c++) {
            const v = m.image[r * S + (flips[b] ? S - 1 - c : c)]! * scale + shift;
            const o = ((b * S + r) * S + c) * C;
            for (let k = 0; k < C; k++) out[o + k] = v;
          }
        }
      });
    }) as tf.Tensor4D;
    const y = computeTensor([n, S, S, K], [], (out) => {
      out.fill(0);
      for (let p = 0; p < labels.length; p++) out[p * K + labels[p]!] = 1;
    }) as tf.Tensor4D;
    return { x, y, labels };
  }
}

/** Mean intersection over union from predicted and true per-pixel labels (classes present in either). */
export function meanIoU(confusion: Float64Array, classes: number): number {
  let sum = 0;
  let present = 0;
  for (let k = 0; k < classes; k++) {
    let truth = 0;
    let predicted = 0;
    for (let j = 0; j < classes; j++) {
      truth += confusion[k * classes + j]!;
      predicted += confusion[j * classes + k]!;
    }
    const tp = confusion[k * classes + k]!;
    const union = truth + predicted - tp;
    if (union > 0) {
      sum += tp / union;
      present++;
    }
  }
  return present ? sum / present : 0;
}
