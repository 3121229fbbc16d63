/**
 * Fashion-MNIST mosaics: an offline dense-prediction task. Each image is a square canvas with 2 to 4
 * Fashion-MNIST items pasted at seeded random positions (later items on top); a pixel's label is
 * 1 + the class of the item whose pixel is on there (value above a threshold), 0 for background;
 * each item's box is the tight box of its visible pixels. Train, validation and test mosaics use
 * items of the matching Fashion-MNIST split, and mosaic i of a split is the same on every call.
 */
import { derive } from '../../common/rng.js';
import type { ImageDataset, SplitName } from './dataset.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from './fashion-mnist.js';

export const MOSAIC_CLASSES = ['background', ...FASHION_MNIST_CLASSES];
export const MOSAIC_ITEM_SIZE = 28;
const ITEM = MOSAIC_ITEM_SIZE;
const ON = 48;
export const MOSAIC_COUNTS: Record<SplitName, number> = { train: 10_000, validation: 1_000, test: 1_000 };

export interface Mosaic {
  /** size x size grey pixels. */
  image: Uint8Array;
  /** size x size labels (0 background, 1 + item class). */
  labels: Uint8Array;
  /** Visible items: normalised [x1, y1, x2, y2] and label (1 + class). */
  boxes: { box: [number, number, number, number]; label: number }[];
}

export class MosaicDataset {
  readonly name: string;
  readonly classNames = MOSAIC_CLASSES;
  readonly channels = 1;
  readonly mean: number[];
  readonly std: number[];

  constructor(
    private readonly items: ImageDataset,
    readonly size: number,
    readonly counts: Record<SplitName, number> = MOSAIC_COUNTS,
  ) {
    if (size < ITEM) throw new Error(`mosaics need a canvas of at least ${ITEM}x${ITEM}, got ${size}`);
    this.name = `fashion-mosaic-${size}`;
    // Canvases are mostly background: normalise with statistics of the mosaics themselves.
    let sum = 0;
    let sumSq = 0;
    let n = 0;
    for (let i = 0; i < 50; i++) {
      for (const v of this.mosaic('train', i).image) {
        sum += v / 255;
        sumSq += (v / 255) ** 2;
        n++;
      }
    }
    this.mean = [sum / n];
    this.std = [Math.sqrt(sumSq / n - (sum / n) ** 2)];
  }

  mosaic(split: SplitName, index: number): Mosaic {
    const rng = derive('mosaic-v1', split, this.size, index);
    const source = this.items[split];
    const count = 2 + Math.floor(rng() * 3);
    const image = new Uint8Array(this.size * this.size);
    const labels = new Uint8Array(this.size * this.size);
    const owner = new Int8Array(this.size * this.size).fill(-1);
    const placed: { item: number; x: number; y: number; label: number }[] = [];
    for (let k = 0; k < count; k++) {
      const item = Math.floor(rng() * source.count);
      const x = Math.floor(rng() * (this.size - ITEM + 1));
      const y = Math.floor(rng() * (this.size - ITEM + 1));
      const label = 1 + source.labels[item]!;
      placed.push({ item, x, y, label });
      for (let r = 0; r < ITEM; r++) {
        for (let c = 0; c < ITEM; c++) {
          const v = source.images[item * ITEM * ITEM + r * ITEM + c]!;
          if (v <= ON) continue;
          const p = (y + r) * this.size + x + c;
          image[p] = v;
          labels[p] = label;
          owner[p] = k;
        }
      }
    }
    const boxes: Mosaic['boxes'] = [];
    placed.forEach((p, k) => {
      let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let r = 0; r < ITEM; r++) {
        for (let c = 0; c < ITEM; c++) {
          if (owner[(p.y + r) * this.size + p.x + c] !== k) continue;
          x1 = Math.min(x1, p.x + c);
          y1 = Math.min(y1, p.y + r);
          x2 = Math.max(x2, p.x + c + 1);
          y2 = Math.max(y2, p.y + r + 1);
        }
      }
      if (x2 > x1) boxes.push({ box: [x1 / this.size, y1 / this.size, x2 / this.size, y2 / this.size], label: p.label });
    });
    return { image, labels, boxes };
  }
}

export function loadMosaics(size: number, counts?: Record<SplitName, number>): MosaicDataset {
  return new MosaicDataset(loadFashionMnist(), size, counts);
}
