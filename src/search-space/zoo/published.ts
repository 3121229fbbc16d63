/**
 * Published numbers the zoo is checked against: the MobileNetV3 paper's Table 3 (float, single
 * large core, TFLite), the reference implementation's README for the minimalistic models, and
 * exact counts of the reference PyTorch modules (1000 classes, 224x224).
 */
export interface PublishedRow {
  source: string;
  top1: number;
  /** Millions. */
  madds: number;
  /** Millions. */
  params: number;
  /** Latency in ms on Pixel 1/2/3, where published. */
  pixel?: readonly [number, number, number];
}

export const PUBLISHED: Readonly<Record<string, PublishedRow>> = {
  'mobilenetv3-large-1.0': { source: 'paper Table 3', top1: 75.2, madds: 219, params: 5.4, pixel: [51, 61, 44] },
  'mobilenetv3-large-0.75': { source: 'paper Table 3', top1: 73.3, madds: 155, params: 4.0, pixel: [39, 46, 40] },
  'mnasnet-a1': { source: 'paper Table 3', top1: 75.2, madds: 315, params: 3.9, pixel: [71, 86, 61] },
  'mobilenetv2-1.0': { source: 'paper Table 3', top1: 72.0, madds: 300, params: 3.4, pixel: [64, 76, 56] },
  'mobilenetv3-small-1.0': { source: 'paper Table 3', top1: 67.4, madds: 56, params: 2.5, pixel: [15.8, 19.4, 14.4] },
  'mobilenetv3-small-0.75': { source: 'paper Table 3', top1: 65.4, madds: 44, params: 2.0, pixel: [12.8, 15.6, 11.7] },
  'mobilenetv2-0.35': { source: 'paper Table 3', top1: 60.8, madds: 59.2, params: 1.6, pixel: [16.6, 19.6, 13.9] },
  'mobilenetv3-large-minimal-1.0': { source: 'reference README', top1: 72.3, madds: 209, params: 3.9 },
  // The README counts Small's MAdds differently from the paper (66M for Small 1.0 where Table 3 has 56M),
  // so this 65M is not comparable with the paper's counting.
  'mobilenetv3-small-minimal-1.0': {
    source: "reference README (its counting gives Small 1.0 66M, not the paper's 56M)",
    top1: 61.9,
    madds: 65,
    params: 2.0,
  },
};

/**
 * Exact counts of the reference PyTorch modules (params, MAdds in millions to 0.1) at 224x224 and
 * 1000 classes unless a row says otherwise.
 */
export const REFERENCE_COUNTS: Readonly<
  Record<string, { params: number; madds: number | null; source: string; resolution?: number; classes?: number }>
> = {
  'mobilenetv3-large-1.0': { params: 5_483_032, madds: 216.6, source: 'torchvision mobilenet_v3_large' },
  'mobilenetv3-small-1.0': { params: 2_542_856, madds: 56.5, source: 'torchvision mobilenet_v3_small' },
  'mobilenetv3-large-0.75': { params: 3_993_528, madds: 154.6, source: 'torchvision blocks, TF-slim width rule' },
  'mobilenetv3-small-0.75': { params: 2_041_872, madds: 43.4, source: 'torchvision blocks, TF-slim width rule' },
  'mobilenetv2-1.0': { params: 3_504_872, madds: 300.8, source: 'torchvision mobilenet_v2' },
  'mobilenetv2-0.35': { params: 1_677_128, madds: 59.3, source: 'torchvision mobilenet_v2(width_mult=0.35)' },
  'mnasnet-a1': { params: 3_887_038, madds: 311.6, source: 'reference block strings, SE = int(0.25 x input)' },
  'lraspp-mobilenetv3-large': {
    params: 3_221_538,
    madds: 2086,
    resolution: 520,
    classes: 21,
    source: 'torchvision lraspp_mobilenet_v3_large (dilated, global pooling)',
  },
  'ssdlite-mobilenetv3-large': {
    params: 3_440_060,
    madds: null,
    resolution: 320,
    classes: 91,
    source: 'torchvision ssdlite320_mobilenet_v3_large (backbone 2,072,672 + head 1,367,388)',
  },
};
