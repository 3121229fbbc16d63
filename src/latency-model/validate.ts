/**
 * Predictor validation: random architectures of a space, each predicted from the table and measured
 * whole on this machine (the table's own device); fidelity as the share within +-5% / +-10%, the
 * mean absolute percentage error and Kendall's rank correlation (what a search needs most).
 */
import { InputError } from '../common/errors.js';
import { derive } from '../common/rng.js';
import type { ArchSpace } from '../search-space/space.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { currentBackend } from '../trainer/backend.js';
import { predictLatency } from './predict.js';
import { measureSpec, PROBE_KEY, SpeedProbe, warmUp } from './profile.js';
import type { LatencyTable, ProfilerSettings } from './table.js';
import { cpus } from 'node:os';

export interface ValidationPoint {
  name: string;
  predictedMs: number;
  /** Measured, scaled to the table's reference machine speed (the speed probe); = rawMs without a probe. */
  measuredMs: number;
  /** As timed, at whatever speed the machine ran at the moment. */
  rawMs: number;
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

function fidelity(predicted: readonly number[], measured: readonly number[]): Fidelity {
  const errors = predicted.map((p, i) => Math.abs(p - measured[i]!) / measured[i]!);
  const share = (limit: number) => errors.filter((e) => e <= limit).length / Math.max(errors.length, 1);
  return {
    within5: share(0.05),
    within10: share(0.1),
    mape: errors.reduce((s, e) => s + e, 0) / Math.max(errors.length, 1),
    kendallTau: kendallTau(predicted, measured),
  };
}

export function summarisePoints(points: ValidationPoint[], table: string): ValidationReport {
  const predicted = points.map((p) => p.predictedMs);
  return {
    samples: points.length,
    ...fidelity(predicted, points.map((p) => p.measuredMs)),
    table,
    raw: fidelity(predicted, points.map((p) => p.rawMs)),
    points,
  };
}

/** A speed probe for the table, when it records one (tables profiled here, not imported ones). */
export function probeFor(table: LatencyTable, settings: ProfilerSettings): SpeedProbe | null {
  return table.probe?.key === PROBE_KEY ? new SpeedProbe(settings) : null;
}

/**
 * A whole model timed here, as timed (rawMs) and at the table's reference speed (measuredMs). With
 * a probe it waits for full machine speed (the gate), times the model interleaved with the probe,
 * and times it again, up to `attempts` times in all, while its rounds show a slowdown. Without a
 * probe measuredMs = rawMs.
 */
export async function timeAtTableSpeed(
  spec: ArchSpec,
  table: LatencyTable,
  settings: ProfilerSettings,
  probe: SpeedProbe | null,
  gate: SpeedGate,
  attempts = 1,
): Promise<{ rawMs: number; measuredMs: number }> {
  if (!probe || !table.probe) {
    const rawMs = measureSpec(spec, settings);
    return { rawMs, measuredMs: rawMs };
  }
  let measured = { rawMs: 0, measuredMs: 0 };
  for (let attempt = 0; attempt < attempts; attempt++) {
    await fullSpeed(probe, table.probe.ms, gate);
    measured = probe.measureSpec(spec, settings, table.probe.ms);
    if (measured.measuredMs >= gate.minSpeed * measured.rawMs) break;
  }
  return measured;
}

/**
 * How fast this machine runs now relative to the table's reference speed (the speed probe):
 * multiply a time measured now by it. 1 for tables without a probe.
 */
export function machineSpeed(table: LatencyTable, settings: ProfilerSettings): number {
  const probe = probeFor(table, settings);
  if (!probe) return 1;
  try {
    return table.probe!.ms / probe.measure();
  } finally {
    probe.dispose();
  }
}

/**
 * Waits (up to maxWaitSeconds) until the machine runs at no less than minSpeed of the table's
 * reference speed, as the probe sees it; returns the last speed seen. A shared VM slows down by up
 * to 30% for minutes at a time, and large models slow down more than the probe does, so the
 * probe's scaling alone under-corrects them: whole models are best timed at full speed.
 */
async function fullSpeed(probe: SpeedProbe, referenceMs: number, gate: SpeedGate): Promise<number> {
  const started = performance.now();
  for (;;) {
    const speed = referenceMs / probe.measure();
    if (speed >= gate.minSpeed || performance.now() - started >= gate.maxWaitSeconds * 1000) return speed;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export interface SpeedGate {
  /** Time a model only when the machine runs at least this fraction of the table's speed. */
  minSpeed: number;
  /** ... but wait no longer than this per model (then time it anyway). */
  maxWaitSeconds: number;
}

export const DEFAULT_SPEED_GATE: SpeedGate = { minSpeed: 0.95, maxWaitSeconds: 60 };

export async function validateTable(options: {
  table: LatencyTable;
  space: ArchSpace;
  samples: number;
  seed: number;
  resolution?: number;
  settings: ProfilerSettings;
  gate?: SpeedGate;
  onProgress?: (done: number, total: number) => void;
}): Promise<ValidationReport> {
  const { table, space } = options;
  const gate = options.gate ?? DEFAULT_SPEED_GATE;
  const here = currentBackend();
  const cpu = cpus()[0]?.model ?? 'unknown';
  if (table.device.backend !== here.backend || table.device.cpu !== cpu) {
    throw new InputError(`table ${table.name} was profiled on ${table.device.name}; validation measures on this machine (${cpu}, ${here.backend}): use a table profiled here`);
  }
  const resolution = options.resolution ?? table.resolutions[0] ?? space.resolution;
  warmUp();
  const rng = derive(options.seed, 'validate', space.name);
  const points: ValidationPoint[] = [];
  const probe = probeFor(table, options.settings);
  try {
    for (let i = 0; i < options.samples; i++) {
      const spec = space.sample(rng, resolution);
      const predictedMs = predictLatency(spec, table).totalMs;
      // A model timed while the machine slowed down is timed again (twice at most).
      const measured = await timeAtTableSpeed(spec, table, options.settings, probe, gate, 3);
      points.push({ name: `${spec.name}#${i}`, predictedMs, ...measured });
      options.onProgress?.(i + 1, options.samples);
    }
  } finally {
    probe?.dispose();
  }
  return summarisePoints(points, table.name);
}
