/** What to profile: the unique ops of a space (or of specs) and whole models to fit the overhead. */
import { derive } from '../../common/rng.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import { withInput } from '../../search-space/io.js';
import type { ArchSpace } from '../../search-space/space.js';
import { type OpDescriptor, opKey, specOps, unitOp } from '../predict/ops.js';

export interface ProfileJobSpec {
  ops: OpDescriptor[];
  calibration: ArchSpec[];
  resolution: number;
}

function unique(ops: Iterable<OpDescriptor>): OpDescriptor[] {
  const byKey = new Map<string, OpDescriptor>();
  for (const op of ops) byKey.set(opKey(op), op);
  return [...byKey.values()];
}

export function jobForSpace(space: ArchSpace, options: { resolution?: number; calibration: number; seed?: number }): ProfileJobSpec {
  const resolution = options.resolution ?? space.resolution;
  const rng = derive(options.seed ?? 0, 'calibration', space.name);
  return {
    ops: unique([...space.units(resolution)].map(unitOp)),
    calibration: Array.from({ length: options.calibration }, () => space.sample(rng, resolution)),
    resolution,
  };
}

export function jobForSpecs(specs: readonly ArchSpec[], resolution = specs[0]?.input.resolution ?? 224): ProfileJobSpec {
  const atResolution = specs.map((s) => (s.input.resolution === resolution ? s : withInput(s, { resolution })));
  return { ops: unique(atResolution.flatMap((s) => specOps(s).map((o) => o.op))), calibration: atResolution, resolution };
}
