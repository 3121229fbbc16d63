/**
 * Timing whole models on this machine at the table's reference speed: what validation, the table's
 * scale/overhead calibration and `nas latency --measure` compare predictions with.
 *
 * This machine is a shared VM whose speed drifts by up to 30% for minutes at a time, and large
 * models slow down more than the speed probe does (their activations leave the cache), so scaling
 * by the probe alone under-corrects them. Hence: wait until the probe shows full speed (the gate),
 * time the model in rounds interleaved with the probe, time it again if its rounds show a slowdown,
 * and, for a set of models, time every model in two passes minutes apart and keep its faster pass
 * (a slow phase rarely covers both).
 */
import type { ArchSpec } from '../search-space/archspec.js';
import { measureSpec, PROBE_KEY, SpeedProbe } from './profile.js';
import type { LatencyTable, ProfilerSettings } from './table.js';

export interface SpeedGate {
  /** Time a model only when the machine runs at least this fraction of the table's speed. */
  minSpeed: number;
  /** ... but wait no longer than this per model (then time it anyway). */
  maxWaitSeconds: number;
}

export const DEFAULT_SPEED_GATE: SpeedGate = { minSpeed: 0.95, maxWaitSeconds: 60 };

/** Probe rounds per model measurement, split across the passes of timeModels. */
const ROUNDS = 12;

export interface ModelTiming {
  /** As timed, at whatever speed the machine ran at the moment. */
  rawMs: number;
  /** Scaled to the table's reference speed (= rawMs without a probe). */
  measuredMs: number;
}

/** A speed probe for the table, when it records one (tables profiled here, not imported ones). */
export function probeFor(table: LatencyTable, settings: ProfilerSettings): SpeedProbe | null {
  return table.probe?.key === PROBE_KEY ? new SpeedProbe(settings) : null;
}

/**
 * One model timed now: with a probe (and the probe's time at reference speed, `referenceMs`) it
 * waits for the gate, times the model interleaved with the probe, and times it again, up to
 * `attempts` times in all, while its rounds show a slowdown.
 */
export async function timeAtReferenceSpeed(
  spec: ArchSpec,
  settings: ProfilerSettings,
  probe: SpeedProbe | null,
  referenceMs: number | null,
  gate: SpeedGate,
  options: { attempts?: number; rounds?: number } = {},
): Promise<ModelTiming> {
  if (!probe || referenceMs === null) {
    const rawMs = measureSpec(spec, settings);
    return { rawMs, measuredMs: rawMs };
  }
  let measured: ModelTiming = { rawMs: 0, measuredMs: 0 };
  for (let attempt = 0; attempt < (options.attempts ?? 1); attempt++) {
    await fullSpeed(probe, referenceMs, gate);
    measured = probe.measureSpec(spec, settings, referenceMs, options.rounds ?? ROUNDS);
    if (measured.measuredMs >= gate.minSpeed * measured.rawMs) break;
  }
  return measured;
}

/** timeAtReferenceSpeed against a table's own probe reading. */
export function timeAtTableSpeed(spec: ArchSpec, table: LatencyTable, settings: ProfilerSettings, probe: SpeedProbe | null, gate: SpeedGate, attempts = 1): Promise<ModelTiming> {
  return timeAtReferenceSpeed(spec, settings, probe, table.probe?.ms ?? null, gate, { attempts });
}

/**
 * Times every model in `passes` passes over the whole list (each pass with its share of the
 * rounds, so the total time stays that of one full measurement) and keeps each model's faster
 * pass. A model retimed within a pass because its rounds showed a slowdown counts as one pass.
 */
export async function timeModels(
  specs: readonly ArchSpec[],
  settings: ProfilerSettings,
  probe: SpeedProbe | null,
  referenceMs: number | null,
  gate: SpeedGate,
  options: { passes?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<ModelTiming[]> {
  const passes = options.passes ?? 2;
  const best: (ModelTiming | null)[] = specs.map(() => null);
  for (let pass = 0; pass < passes; pass++) {
    for (const [i, spec] of specs.entries()) {
      const timing = await timeAtReferenceSpeed(spec, settings, probe, referenceMs, gate, { attempts: 2, rounds: Math.ceil(ROUNDS / passes) });
      if (!best[i] || timing.measuredMs < best[i]!.measuredMs) best[i] = timing;
      options.onProgress?.(pass * specs.length + i + 1, passes * specs.length);
    }
  }
  return best.map((t) => t!);
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
 * Waits (up to maxWaitSeconds) until the machine runs at no less than minSpeed of the reference
 * speed, as the probe sees it; returns the last speed seen.
 */
async function fullSpeed(probe: SpeedProbe, referenceMs: number, gate: SpeedGate): Promise<number> {
  const started = performance.now();
  for (;;) {
    const speed = referenceMs / probe.measure();
    if (speed >= gate.minSpeed || performance.now() - started >= gate.maxWaitSeconds * 1000) return speed;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
