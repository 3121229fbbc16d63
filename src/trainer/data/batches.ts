/**
 * Assembles normalised NHWC float batches from uint8 images: fits the images to the model's
 * resolution (zero padding when it is a little larger, bilinear resizing otherwise), replicates grey
 * to RGB when the model wants 3 channels, and for training applies a random shift (zero fill,
 * up to 1/16 of the side) and a random horizontal flip. Writes straight into backend memory.
 */
import { InputError } from '../../common/errors.js';
import type { Rng } from '../../common/rng.js';
import { computeTensor } from '../heap.js';
import type { tf } from '../tf.js';
import type { ImageDataset, ImageSplit } from './dataset.js';

export interface BatcherOptions {
  resolution: number;
  /** Channels the model expects. */
  channels: number;
  augment: boolean;
  /** Use only the first `limit` images of the split. */
  limit?: number;
  labelSmoothing?: number;
}

/** For one output axis: the two source coordinates and weight of each output coordinate (-1 = zero). */
interface AxisMap {
  i0: Int32Array;
  i1: Int32Array;
  w: Float32Array;
}

function axisMap(source: number, target: number): AxisMap {
  const map = { i0: new Int32Array(target), i1: new Int32Array(target), w: new Float32Array(target) };
  const padding = target - source;
  if (padding >= 0 && padding <= source / 4) {
    const offset = Math.floor(padding / 2);
    for (let t = 0; t < target; t++) {
      const s = t - offset;
      map.i0[t] = s >= 0 && s < source ? s : -1;
      map.i1[t] = map.i0[t]!;
    }
    return map;
  }
  const scale = source / target;
  for (let t = 0; t < target; t++) {
    const f = Math.max(0, Math.min(source - 1, (t + 0.5) * scale - 0.5));
    map.i0[t] = Math.floor(f);
    map.i1[t] = Math.min(source - 1, map.i0[t]! + 1);
    map.w[t] = f - map.i0[t]!;
  }
  return map;
}

/** What the training loop and evaluation draw batches from. */
export interface Batcher {
  readonly count: number;
  readonly classes: number;
  readonly kind: 'classification' | 'segmentation';
  /** Inputs, targets, and the true label of every prediction (per image, or per pixel). */
  batch(indices: ArrayLike<number>, rng?: Rng): { x: tf.Tensor; y: tf.Tensor; labels: Uint8Array };
}

export class ImageBatcher implements Batcher {
  readonly kind = 'classification';
  readonly count: number;
  readonly classes: number;
  private readonly split: ImageSplit;
  private readonly rows: AxisMap;
  private readonly cols: AxisMap;
  private readonly scale: Float32Array;
  private readonly shift: Float32Array;

  constructor(
    private readonly dataset: ImageDataset,
    splitName: 'train' | 'validation' | 'test',
    private readonly options: BatcherOptions,
  ) {
    if (options.channels !== dataset.channels && !(dataset.channels === 1 && options.channels === 3)) {
      throw new InputError(
        `the model takes ${options.channels}-channel input but dataset ${dataset.name} has ${dataset.channels} channels: set the spec's input.channels to ${dataset.channels}`,
      );
    }
    this.split = dataset[splitName];
    this.count = Math.min(this.split.count, options.limit ?? Infinity);
    this.classes = dataset.classNames.length;
    this.rows = axisMap(dataset.height, options.resolution);
    this.cols = axisMap(dataset.width, options.resolution);
    // value = byte * scale[c] + shift[c]  ==  (byte / 255 - mean[c]) / std[c]
    this.scale = Float32Array.from(dataset.std, (s) => 1 / (255 * s));
    this.shift = Float32Array.from(dataset.mean, (m, c) => -m / dataset.std[c]!);
  }

  /** Images and targets (one-hot, label-smoothed) of the given example indices. */
  batch(indices: ArrayLike<number>, rng?: Rng): { x: tf.Tensor4D; y: tf.Tensor2D; labels: Uint8Array } {
    const n = indices.length;
    const R = this.options.resolution;
    const C = this.options.channels;
    const { height: H, width: W, channels: srcC } = this.dataset;
    const imageBytes = H * W * srcC;
    const images = this.split.images;
    const maxShift = this.options.augment ? Math.floor(R / 16) : 0;
    // Padding and shifted-in pixels are black (byte 0), like the images' own background.
    const black = Float32Array.from({ length: C }, (_, c) => this.shift[srcC === 1 ? 0 : c]!);
    const x = computeTensor([n, R, R, C], [], (out) => {
      if (C === 1) out.fill(black[0]!);
      else for (let i = 0; i < out.length; i++) out[i] = black[i % C]!;
      for (let b = 0; b < n; b++) {
        const base = indices[b]! * imageBytes;
        const dy = maxShift && rng ? Math.floor(rng() * (2 * maxShift + 1)) - maxShift : 0;
        const dx = maxShift && rng ? Math.floor(rng() * (2 * maxShift + 1)) - maxShift : 0;
        const flip = this.options.augment && rng ? rng() < 0.5 : false;
        for (let ty = 0; ty < R; ty++) {
          const y = ty - dy;
          if (y < 0 || y >= R) continue;
          const r0 = this.rows.i0[y]!;
          if (r0 < 0) continue;
          const r1 = this.rows.i1[y]!;
          const wy = this.rows.w[y]!;
          for (let tx = 0; tx < R; tx++) {
            const xx = (flip ? R - 1 - tx : tx) - dx;
            if (xx < 0 || xx >= R) continue;
            const c0 = this.cols.i0[xx]!;
            if (c0 < 0) continue;
            const c1 = this.cols.i1[xx]!;
            const wx = this.cols.w[xx]!;
            const o = ((b * R + ty) * R + tx) * C;
            for (let c = 0; c < C; c++) {
              const sc = srcC === 1 ? 0 : c;
              const p00 = images[base + (r0 * W + c0) * srcC + sc]!;
              const p01 = images[base + (r0 * W + c1) * srcC + sc]!;
              const p10 = images[base + (r1 * W + c0) * srcC + sc]!;
              const p11 = images[base + (r1 * W + c1) * srcC + sc]!;
              const v = (p00 * (1 - wx) + p01 * wx) * (1 - wy) + (p10 * (1 - wx) + p11 * wx) * wy;
              out[o + c] = v * this.scale[sc]! + this.shift[sc]!;
            }
          }
        }
      }
    }) as tf.Tensor4D;
    const labels = Uint8Array.from({ length: n }, (_, b) => this.split.labels[indices[b]!]!);
    const smoothing = this.options.labelSmoothing ?? 0;
    const K = this.classes;
    const y = computeTensor([n, K], [], (out) => {
      out.fill(smoothing / K);
      for (let b = 0; b < n; b++) out[b * K + labels[b]!] = 1 - smoothing + smoothing / K;
    }) as tf.Tensor2D;
    return { x, y, labels };
  }
}
