/** The model zoo: every named architecture `nas specs` materialises. */
import { InputError } from '../../common/errors.js';
import type { ArchSpec, Task } from '../archspec.js';
import type { ZooOptions } from './assemble.js';
import { mnasnetA1 } from './mnasnet.js';
import { mobilenetV2 } from './mobilenetv2.js';
import { MOBILENETV3_LARGE, MOBILENETV3_SMALL, mobilenetV3 } from './mobilenetv3.js';

export type { ZooOptions } from './assemble.js';
export { makeDivisible } from './assemble.js';

type Factory = (options: ZooOptions) => ArchSpec;

const WIDTHS = [0.35, 0.5, 0.75, 1.0, 1.25];
const widthLabel = (w: number) => (Number.isInteger(w) ? w.toFixed(1) : String(w));

const ZOO = new Map<string, Factory>();
for (const [family, table] of [
  ['large', MOBILENETV3_LARGE],
  ['small', MOBILENETV3_SMALL],
] as const) {
  for (const width of WIDTHS) {
    const name = `mobilenetv3-${family}-${widthLabel(width)}`;
    ZOO.set(name, (o) => mobilenetV3(table, { ...o, width, name }));
  }
  const minimal = `mobilenetv3-${family}-minimal-1.0`;
  ZOO.set(minimal, (o) => mobilenetV3(table, { ...o, minimal: true, name: minimal }));
  const reduced = `mobilenetv3-${family}-1.0-reduced-tail`;
  ZOO.set(reduced, (o) => mobilenetV3(table, { ...o, reducedTail: true, name: reduced }));
}
/** MobileNetV3 section 6: LR-ASPP (dilated last stage, as torchvision's lraspp_mobilenet_v3_large) and SSDLite (reduced tail). */
const LRASPP: Task = {
  type: 'segmentation',
  decoder: 'lraspp',
  lowStride: 8,
  highStride: 16,
  interChannels: 128,
  pooling: { type: 'global' },
};
const SSDLITE: Task = {
  type: 'detection',
  decoder: 'ssdlite',
  taps: [
    { stride: 16, layer: 'expansion' },
    { stride: 32, layer: 'output' },
  ],
  extraWidths: [512, 256, 256, 128],
  aspectRatios: [2, 3],
  minScale: 0.2,
  maxScale: 0.95,
};
for (const [family, table] of [
  ['large', MOBILENETV3_LARGE],
  ['small', MOBILENETV3_SMALL],
] as const) {
  const lraspp = `lraspp-mobilenetv3-${family}`;
  ZOO.set(lraspp, (o) => mobilenetV3(table, { resolution: 520, classes: 21, ...o, dilated: true, task: LRASPP, name: lraspp }));
  // Half width: a backbone small enough to train on the mosaic task in minutes (results/dense.md).
  const lrasppHalf = `${lraspp}-0.5`;
  ZOO.set(lrasppHalf, (o) =>
    mobilenetV3(table, { resolution: 520, classes: 21, ...o, width: 0.5, dilated: true, task: LRASPP, name: lrasppHalf }),
  );
  const ssdlite = `ssdlite-mobilenetv3-${family}`;
  ZOO.set(ssdlite, (o) => mobilenetV3(table, { resolution: 320, classes: 91, ...o, reducedTail: true, task: SSDLITE, name: ssdlite }));
}
for (const width of [1.0, 0.35]) {
  const name = `mobilenetv2-${widthLabel(width)}`;
  ZOO.set(name, (o) => mobilenetV2({ ...o, width, name }));
}
ZOO.set('mnasnet-a1', (o) => mnasnetA1(o));

export function zooNames(): string[] {
  return [...ZOO.keys()];
}

export function isZooName(name: string): boolean {
  return ZOO.has(name);
}

export function zooSpec(name: string, options: ZooOptions = {}): ArchSpec {
  const factory = ZOO.get(name);
  if (!factory) throw new InputError(`unknown model "${name}": choose one of ${zooNames().join(', ')}`);
  // Unset options must not override a model's own defaults (LR-ASPP's 520x520, SSDLite's 91 classes).
  return factory(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)));
}
