/**
 * SSD(Lite) box machinery, in the conventions of torchvision's SSD: default boxes per feature map
 * (scales spread linearly from minScale to maxScale, two boxes of ratio 1 and two per other aspect
 * ratio), box encoding against them with weights (10, 10, 5, 5), decoding, IoU and greedy
 * per-class non-maximum suppression. Boxes are normalised [x1, y1, x2, y2]; anchors are in the order
 * of the predictors' outputs (feature map, row, column, anchor).
 */
import type { DetectionTask } from '../search-space/archspec.js';

export type Box = [number, number, number, number];

export interface Detection {
  box: Box;
  label: number;
  score: number;
}

/** Default boxes as [cx, cy, w, h] for feature maps of the given sizes. */
export function defaultBoxes(
  task: Pick<DetectionTask, 'aspectRatios' | 'minScale' | 'maxScale'>,
  featureSizes: readonly [number, number][],
): Float32Array {
  const m = featureSizes.length;
  const scales = Array.from({ length: m }, (_, k) =>
    m === 1 ? task.minScale : task.minScale + ((task.maxScale - task.minScale) * k) / (m - 1),
  );
  scales.push(1);
  const perLocation = 2 + 2 * task.aspectRatios.length;
  const total = featureSizes.reduce((n, [h, w]) => n + h * w * perLocation, 0);
  const out = new Float32Array(total * 4);
  let o = 0;
  featureSizes.forEach(([fh, fw], k) => {
    const s = scales[k]!;
    const sizes: [number, number][] = [
      [s, s],
      [Math.sqrt(s * scales[k + 1]!), Math.sqrt(s * scales[k + 1]!)],
    ];
    for (const r of task.aspectRatios) {
      const q = Math.sqrt(r);
      sizes.push([s * q, s / q], [s / q, s * q]);
    }
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        for (const [w, h] of sizes) {
          out[o++] = (j + 0.5) / fw;
          out[o++] = (i + 0.5) / fh;
          out[o++] = Math.min(w, 1);
          out[o++] = Math.min(h, 1);
        }
      }
    }
  });
  return out;
}

const WEIGHTS = [10, 10, 5, 5] as const;
const MAX_LOG_SCALE = Math.log(1000 / 16);

/** Regression targets of `box` against the anchor [cx, cy, w, h]. */
export function encodeBox(box: Box, anchor: ArrayLike<number>): [number, number, number, number] {
  const [ax, ay, aw, ah] = [anchor[0]!, anchor[1]!, anchor[2]!, anchor[3]!];
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  const cx = box[0] + w / 2;
  const cy = box[1] + h / 2;
  return [(WEIGHTS[0] * (cx - ax)) / aw, (WEIGHTS[1] * (cy - ay)) / ah, WEIGHTS[2] * Math.log(w / aw), WEIGHTS[3] * Math.log(h / ah)];
}

/** The box a regression output stands for, against its anchor. */
export function decodeBox(delta: ArrayLike<number>, anchor: ArrayLike<number>): Box {
  const [ax, ay, aw, ah] = [anchor[0]!, anchor[1]!, anchor[2]!, anchor[3]!];
  const cx = (delta[0]! / WEIGHTS[0]) * aw + ax;
  const cy = (delta[1]! / WEIGHTS[1]) * ah + ay;
  const w = Math.exp(Math.min(delta[2]! / WEIGHTS[2], MAX_LOG_SCALE)) * aw;
  const h = Math.exp(Math.min(delta[3]! / WEIGHTS[3], MAX_LOG_SCALE)) * ah;
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

export function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy NMS within each label: highest score first, drop boxes overlapping a kept one by > iouThreshold. */
export function nonMaxSuppression(candidates: readonly Detection[], iouThreshold: number, maxDetections = Infinity): Detection[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (kept.length >= maxDetections) break;
    if (kept.every((k) => k.label !== d.label || iou(k.box, d.box) <= iouThreshold)) kept.push(d);
  }
  return kept;
}

/**
 * Detections of one image from the model's outputs: softmax over classes (class 0 is background),
 * boxes decoded against the anchors, scores above `scoreThreshold`, then per-class NMS.
 */
export function postprocess(
  classLogits: Float32Array,
  boxDeltas: Float32Array,
  anchors: Float32Array,
  classes: number,
  options: { scoreThreshold?: number; iouThreshold?: number; maxDetections?: number } = {},
): Detection[] {
  const { scoreThreshold = 0.01, iouThreshold = 0.5, maxDetections = 100 } = options;
  const count = anchors.length / 4;
  const candidates: Detection[] = [];
  for (let a = 0; a < count; a++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, classLogits[a * classes + k]!);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(classLogits[a * classes + k]! - max);
    for (let k = 1; k < classes; k++) {
      const score = Math.exp(classLogits[a * classes + k]! - max) / sum;
      if (score > scoreThreshold)
        candidates.push({ box: decodeBox(boxDeltas.subarray(a * 4, a * 4 + 4), anchors.subarray(a * 4, a * 4 + 4)), label: k, score });
    }
  }
  return nonMaxSuppression(candidates, iouThreshold, maxDetections);
}
