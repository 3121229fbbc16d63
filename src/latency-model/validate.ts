/**
 * Predictor validation: random architectures of a space, each predicted from the table and measured
 * whole on this machine (the table's own device); fidelity as the share within +-5% / +-10%, the
 * mean absolute percentage error and Kendall's rank correlation (what a search needs most).
 */
import { InputError } from '../common/errors.js';
import { derive } from '../common/rng.js';
import type { ArchSpace } from '../search-space/space.js';
import { currentBackend } from '../trainer/backend.js';
import { predictLatency } from './predict.js';
import { profileSpec } from './profile.js';
import type { LatencyTable, ProfilerSettings } from './table.js';
import { cpus } from 'node:os';

export interface ValidationPoint {
  name: string;
  predictedMs: number;
  measuredMs: number;
}

export interface ValidationReport {
  samples: number;
  within5: number;
  within10: number;
  mape: number;
  kendallTau: number;
  table: string;
  points: ValidationPoint[];
}

export function kendallTau(a: readonly number[], b: readonly number[]): number {
  let concordant = 0;
  let discordant = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const s = Math.sign(a[i]! - a[j]!) * Math.sign(b[i]! - b[j]!);
      if (s > 0) concordant++;
      else if (s < 0) discordant++;
    }
  }
  const pairs = (a.length * (a.length - 1)) / 2;
  return pairs ? (concordant - discordant) / pairs : 1;
}

export function summarisePoints(points: ValidationPoint[], table: string): ValidationReport {
  const errors = points.map((p) => Math.abs(p.predictedMs - p.measuredMs) / p.measuredMs);
  const share = (limit: number) => errors.filter((e) => e <= limit).length / Math.max(errors.length, 1);
  return {
    samples: points.length,
    within5: share(0.05),
    within10: share(0.1),
    mape: errors.reduce((s, e) => s + e, 0) / Math.max(errors.length, 1),
    kendallTau: kendallTau(points.map((p) => p.predictedMs), points.map((p) => p.measuredMs)),
    table,
    points,
  };
}

export function validateTable(options: {
  table: LatencyTable;
  space: ArchSpace;
  samples: number;
  seed: number;
  resolution?: number;
  settings: ProfilerSettings;
  onProgress?: (done: number, total: number) => void;
}): ValidationReport {
  const { table, space } = options;
  const here = currentBackend();
  const cpu = cpus()[0]?.model ?? 'unknown';
  if (table.device.backend !== here.backend || table.device.cpu !== cpu) {
    throw new InputError(`table ${table.name} was profiled on ${table.device.name}; validation measures on this machine (${cpu}, ${here.backend}): use a table profiled here`);
  }
  const resolution = options.resolution ?? table.resolutions[0] ?? space.resolution;
  const rng = derive(options.seed, 'validate', space.name);
  const points: ValidationPoint[] = [];
  for (let i = 0; i < options.samples; i++) {
    const spec = space.sample(rng, resolution);
    const predictedMs = predictLatency(spec, table).totalMs;
    const measuredMs = profileSpec(spec, options.settings).median;
    points.push({ name: `${spec.name}#${i}`, predictedMs, measuredMs });
    options.onProgress?.(i + 1, options.samples);
  }
  return summarisePoints(points, table.name);
}
