/**
 * Timing whole models on this machine at the table's reference speed: what validation, the table's
 * scale/overhead calibration and `nas latency --measure` compare predictions with.
 *
 * This machine is a shared VM whose speed drifts by up to 30% for minutes at a time, and large
 * models slow down more than the speed probe does (their activations leave the cache), so scaling
 * by the probe alone under-corrects them. Hence: wait until the probe shows full speed (the gate),
 * time the model in rounds interleaved with the probe, time it again if its rounds show a slowdown,
 * and, for a set of models, time every model in two passes minutes apart, time again those whose
 * passes disagree, and keep the fastest (a slow phase rarely covers all).
 *
 * Full speed is the table's reference speed or, on a host slower than the one that profiled the
 * table (another VM of the same kind can run 10% slower for hours), the fastest this process has
 * seen the probe run: waiting for a speed the host never reaches would only stall every model.
 */
import { InterruptedError } from '../../common/errors.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import type { LatencyTable, ProfilerSettings } from '../predict/table-schema.js';
import { DEFAULT_PROFILER, measureSpec, PROBE_KEY, SpeedProbe, warmUp } from './profile.js';
import { DEFAULT_SPEED_GATE, type SpeedGate } from './speed-gate.js';

/** A wait at the gate, reported about once a second while it lasts. */
export interface GateWait {
  /** The machine's speed now, relative to the table's reference speed. */
  speed: number;
  /** The speed the gate waits for (minSpeed of the full speed). */
  target: number;
  minSpeed: number;
  /** This wait so far, and its limit. */
  waitedSeconds: number;
  maxWaitSeconds: number;
  /** All waits of the set so far, and what is left of its limit. */
  totalWaitedSeconds: number;
  totalWaitLeftSeconds: number;
}

/** What the waits of one set of timings share: their total limit, a report of each wait, a stop. */
export interface WaitContext {
  budget: { totalSeconds: number; spentSeconds: number };
  onWait?: (wait: GateWait) => void;
  /** Ends a wait at once (the caller stops). */
  signal?: AbortSignal;
}

/** Probe rounds per model measurement, split across the passes of timeModels. */
const ROUNDS = 12;

export interface ModelTiming {
  /** As timed, at whatever speed the machine ran at the moment. */
  rawMs: number;
  /** Scaled to the table's reference speed (= rawMs without a probe). */
  measuredMs: number;
  /** The machine's speed (relative to the table's) the gate saw last before timing; 1 without a probe. */
  speedBefore?: number;
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
  options: { attempts?: number; rounds?: number; wait?: WaitContext } = {},
): Promise<ModelTiming> {
  if (!probe || referenceMs === null) {
    const rawMs = measureSpec(spec, settings);
    return { rawMs, measuredMs: rawMs };
  }
  const wait = options.wait ?? { budget: { totalSeconds: gate.maxTotalWaitSeconds ?? Infinity, spentSeconds: 0 } };
  let measured: ModelTiming = { rawMs: 0, measuredMs: 0, speedBefore: 1 };
  for (let attempt = 0; attempt < (options.attempts ?? 1); attempt++) {
    const speedBefore = await fullSpeed(probe, referenceMs, gate, wait);
    if (wait.signal?.aborted) throw new InterruptedError('stopped while waiting at the speed gate');
    measured = { ...probe.measureSpec(spec, settings, referenceMs, options.rounds ?? ROUNDS), speedBefore };
    // Once the set's waiting is used up the machine will not get faster for us: no second attempt.
    if (measured.measuredMs >= gateSpeed(probe, referenceMs, gate) * measured.rawMs || waitedOut(wait)) break;
  }
  return measured;
}

/** Two timings of a model agree when the slower is within this fraction of the faster. */
const AGREEMENT = 0.03;
/** Passes over the unsettled models after the regular ones, at most. */
const EXTRA_PASSES = 3;

/**
 * Times every model in `passes` passes over the whole list (each pass with its share of the
 * rounds, so the total time stays that of one full measurement), then times again, in up to
 * EXTRA_PASSES more passes, the models not yet settled: whose two fastest timings disagree by more
 * than AGREEMENT, or whose fastest was timed below the gate's speed. A neighbour's burst can slow
 * a large model more than the probe shows, so one slow timing is not caught by the probe alone;
 * two timings minutes apart that agree are. Keeps each model's fastest timing. The criterion never
 * looks at a prediction, so the validation it serves stays blind. The waits at the gate share one
 * limit (SpeedGate.maxTotalWaitSeconds); after each timing `onTimed` gets every model's timings
 * so far, which `previous` takes back to continue an interrupted set; an abort stops between
 * timings (and ends a wait) with an InterruptedError.
 */
export async function timeModels(
  specs: readonly ArchSpec[],
  settings: ProfilerSettings,
  probe: SpeedProbe | null,
  referenceMs: number | null,
  gate: SpeedGate,
  options: TimeModelsOptions = {},
): Promise<ModelTiming[]> {
  const passes = options.passes ?? 2;
  const rounds = Math.ceil(ROUNDS / passes);
  const timings: ModelTiming[][] = specs.map((_, i) => [...(options.previous?.[i] ?? [])]);
  const totalSeconds = gate.maxTotalWaitSeconds ?? gate.maxWaitSeconds * specs.length;
  const wait: WaitContext = { budget: { totalSeconds, spentSeconds: 0 }, onWait: options.onWait, signal: options.signal };
  const fullSpeedFloor = () => speedFloor(probe, referenceMs, gate, waitedOut(wait));
  let done = 0;
  let total = passes * specs.length;
  // Pass `pass` times a model that has `pass` timings: after a resume, the ones it already has are skipped.
  const timeEach = async (indices: number[], pass: number) => {
    for (const i of indices) {
      if (timings[i]!.length > pass) {
        options.onProgress?.(++done, total);
        continue;
      }
      if (options.signal?.aborted) throw new InterruptedError(`stopped after ${done} of ${total} model timings`);
      timings[i]!.push(await timeAtReferenceSpeed(specs[i]!, settings, probe, referenceMs, gate, { attempts: 2, rounds, wait }));
      await options.onTimed?.(timings);
      options.onProgress?.(++done, total);
    }
  };
  const all = specs.map((_, i) => i);
  for (let pass = 0; pass < passes; pass++) await timeEach(all, pass);
  for (let extra = 0; extra < EXTRA_PASSES; extra++) {
    const unsettled = all.filter((i) => !settled(timings[i]!, fullSpeedFloor()));
    if (!unsettled.length) break;
    total += unsettled.length;
    await timeEach(unsettled, passes + extra);
  }
  return timings.map((ts) => fastest(ts));
}

/**
 * Times specs (at the table's resolution and classes) here with the table's profiler settings
 * (unless `options.settings` overrides them) and speed probe, after warming the backend up (which
 * must be prepared): validation's protocol.
 */
export async function timeAgainstTable(
  specs: readonly ArchSpec[],
  table: LatencyTable,
  gate: SpeedGate = DEFAULT_SPEED_GATE,
  { settings = table.profiler ?? DEFAULT_PROFILER, ...options }: TimeModelsOptions & { settings?: ProfilerSettings } = {},
): Promise<ModelTiming[]> {
  warmUp();
  const probe = probeFor(table, settings);
  try {
    return await timeModels(specs, settings, probe, table.probe?.ms ?? null, gate, options);
  } finally {
    probe?.dispose();
  }
}

export interface TimeModelsOptions {
  passes?: number;
  onProgress?: (done: number, total: number) => void;
  /** After each timing: every model's timings so far (empty: not timed yet). */
  onTimed?: (timings: readonly (readonly ModelTiming[])[]) => Promise<void> | void;
  /** Timings taken before (by an interrupted run of the same models), per model: not taken again. */
  previous?: readonly (readonly ModelTiming[])[];
  /** Each wait at the speed gate, about once a second. */
  onWait?: (wait: GateWait) => void;
  signal?: AbortSignal;
}

export function fastest(timings: readonly ModelTiming[]): ModelTiming {
  return timings.reduce((a, b) => (b.measuredMs < a.measuredMs ? b : a));
}

/** Whether a model's timings need no more passes (see timeModels). */
export function settled(timings: readonly ModelTiming[], fullSpeedFloor: number): boolean {
  const sorted = [...timings].sort((a, b) => a.measuredMs - b.measuredMs);
  const [first, second] = sorted;
  if (!first || !second) return false;
  return second.measuredMs <= first.measuredMs * (1 + AGREEMENT) && first.measuredMs >= fullSpeedFloor * first.rawMs;
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
 * The speed (relative to the reference) a model's fastest timing must have been taken at to need
 * no more passes: the gate's, until the waits of the set have used up their limit; then 0, so a
 * timing below the gate's speed no longer asks for another pass. 0 without a probe.
 */
export function speedFloor(
  probe: Pick<SpeedProbe, 'fastestMs'> | null,
  referenceMs: number | null,
  gate: SpeedGate,
  waitedOut: boolean,
): number {
  return probe && referenceMs !== null && !waitedOut ? gateSpeed(probe, referenceMs, gate) : 0;
}

/** Whether the waits of a set have used up its limit. */
function waitedOut(wait: WaitContext): boolean {
  return wait.budget.spentSeconds >= wait.budget.totalSeconds;
}

/** The speed (relative to the reference) the gate asks for: minSpeed of the full speed. */
function gateSpeed(probe: Pick<SpeedProbe, 'fastestMs'>, referenceMs: number, gate: SpeedGate): number {
  return gate.minSpeed * Math.min(1, referenceMs / probe.fastestMs);
}

/**
 * Waits (up to maxWaitSeconds, and no longer than what is left of the set's total) until the
 * machine runs at no less than minSpeed of its full speed, as the probe sees it, reporting the wait
 * about once a second; returns the last speed seen (relative to the reference).
 */
async function fullSpeed(probe: SpeedProbe, referenceMs: number, gate: SpeedGate, wait: WaitContext): Promise<number> {
  const started = performance.now();
  const { budget } = wait;
  for (;;) {
    const speed = referenceMs / probe.measure();
    const target = gateSpeed(probe, referenceMs, gate);
    const waitedSeconds = (performance.now() - started) / 1000;
    const leftSeconds = Math.min(gate.maxWaitSeconds - waitedSeconds, budget.totalSeconds - budget.spentSeconds - waitedSeconds);
    if (speed >= target || leftSeconds <= 0 || wait.signal?.aborted) {
      budget.spentSeconds += waitedSeconds;
      return speed;
    }
    wait.onWait?.({
      speed,
      target,
      minSpeed: gate.minSpeed,
      waitedSeconds,
      maxWaitSeconds: gate.maxWaitSeconds,
      totalWaitedSeconds: budget.spentSeconds + waitedSeconds,
      totalWaitLeftSeconds: budget.totalSeconds - budget.spentSeconds - waitedSeconds,
    });
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, leftSeconds * 1000)));
  }
}
