/**
 * Predictor validation: random architectures of a space, each predicted from the table and measured
 * whole on this machine (the table's own device, ./whole-model.ts); fidelity as the share within +-5% / +-10%, the
 * mean absolute percentage error and Kendall's rank correlation (what a search needs most).
 */

import { cpus } from 'node:os';
import { InputError } from '../../common/errors.js';
import { kendallTauA } from '../../common/rank-correlation.js';
import { derive } from '../../common/rng.js';
import type { ArchSpace } from '../../search-space/space.js';
import { currentBackend } from '../../trainer/backend.js';
import { profiledHere } from '../predict/oracle.js';
import { predictLatency } from '../predict/predict.js';
import type { LatencyTable, ProfilerSettings } from '../predict/table-schema.js';
import { DEFAULT_SPEED_GATE, type SpeedGate } from './speed-gate.js';
import { fastest, type GateWait, type ModelTiming, timeAgainstTable } from './whole-model.js';

export interface ValidationPoint {
  name: string;
  predictedMs: number;
  /** Measured, scaled to the table's reference machine speed (the speed probe); = rawMs without a probe. */
  measuredMs: number;
  /** As timed, at whatever speed the machine ran at the moment. */
  rawMs: number;
  /** Every timing of the model (the fastest is measuredMs/rawMs): what a resumed validation continues from. */
  timings?: ModelTiming[];
}

export interface Fidelity {
  within5: number;
  within10: number;
  mape: number;
  kendallTau: number;
}

export interface ValidationReport {
  samples: number;
  within5: number;
  within10: number;
  mape: number;
  kendallTau: number;
  table: string;
  /** The same measures on the raw (not speed-normalised) timings. */
  raw: Fidelity;
  points: ValidationPoint[];
}

function fidelity(predicted: readonly number[], measured: readonly number[]): Fidelity {
  const errors = predicted.map((p, i) => Math.abs(p - measured[i]!) / measured[i]!);
  const share = (limit: number) => errors.filter((e) => e <= limit).length / Math.max(errors.length, 1);
  return {
    within5: share(0.05),
    within10: share(0.1),
    mape: errors.reduce((s, e) => s + e, 0) / Math.max(errors.length, 1),
    kendallTau: kendallTauA(predicted, measured),
  };
}

export function summarisePoints(points: ValidationPoint[], table: string): ValidationReport {
  const predicted = points.map((p) => p.predictedMs);
  return {
    samples: points.length,
    ...fidelity(
      predicted,
      points.map((p) => p.measuredMs),
    ),
    table,
    raw: fidelity(
      predicted,
      points.map((p) => p.rawMs),
    ),
    points,
  };
}

export interface ValidateTableOptions {
  table: LatencyTable;
  space: ArchSpace;
  samples: number;
  seed: number;
  resolution?: number;
  settings: ProfilerSettings;
  gate?: SpeedGate;
  onProgress?: (done: number, total: number) => void;
  /** Each wait at the speed gate (about once a second while it lasts). */
  onWait?: (wait: GateWait) => void;
  /** After each timing: the report on the models timed so far. */
  onPartial?: (report: ValidationReport) => Promise<void> | void;
  /** Stops between timings with an InterruptedError (onPartial has had what was timed). */
  signal?: AbortSignal;
  /** Timings of an interrupted validation of the same draw, by model index: not taken again. */
  previous?: readonly (readonly ModelTiming[])[];
}

/** Index of a model in its draw, from its point's name (`<name>#<index>`). */
export function pointIndex(point: Pick<ValidationPoint, 'name'>): number {
  return Number(point.name.slice(point.name.lastIndexOf('#') + 1));
}

export async function validateTable(options: ValidateTableOptions): Promise<ValidationReport> {
  const { table, space } = options;
  const gate = options.gate ?? DEFAULT_SPEED_GATE;
  if (!profiledHere(table)) {
    throw new InputError(
      `table ${table.name} was profiled on ${table.device.name}; validation measures on this machine (${cpus()[0]?.model ?? 'unknown'}, ${currentBackend().backend}): use a table profiled here`,
    );
  }
  const resolution = options.resolution ?? table.resolutions[0] ?? space.resolution;
  const rng = derive(options.seed, 'validate', space.name);
  const specs = Array.from({ length: options.samples }, () => space.sample(rng, resolution));
  const predicted = specs.map((spec) => predictLatency(spec, table).totalMs);
  const report = (timings: readonly (readonly ModelTiming[])[]) =>
    summarisePoints(
      specs.flatMap((spec, i) => {
        const all = timings[i] ?? [];
        return all.length ? [{ name: `${spec.name}#${i}`, predictedMs: predicted[i]!, ...fastest(all), timings: [...all] }] : [];
      }),
      table.name,
    );
  let latest: readonly (readonly ModelTiming[])[] = options.previous ?? [];
  await timeAgainstTable(specs, table, gate, {
    settings: options.settings,
    onProgress: options.onProgress,
    onWait: options.onWait,
    signal: options.signal,
    previous: options.previous,
    onTimed: (timings) => {
      latest = timings;
      return options.onPartial?.(report(timings));
    },
  });
  return report(latest);
}
