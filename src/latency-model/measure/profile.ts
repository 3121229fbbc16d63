/**
 * Timing ops and models with tfjs, in Node or in a browser (this module touches no files).
 *
 * Each op is built alone as a LayersModel (exactly the layers the full model runs for it), warmed
 * up, then run until it has at least `minRuns` runs and `minMillis` of samples; the entry keeps the
 * 25th percentile (the statistic least moved by other work on a shared machine), the median, the
 * mean and the standard deviation. The speed probe below scales timings taken minutes apart.
 *
 * Models run through `apply` (graph execution), not `predict`: predict() slices its input into
 * batches and concatenates the outputs, copies that a whole model pays once but an op measured
 * alone would pay for every op. Every call still pays a fixed dispatch cost that a whole model
 * pays once: it is measured on an empty model and subtracted from each op.
 */
import { quantile } from '../../common/quantile.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import { buildModel, buildUnitsModel } from '../../trainer/build-model.js';
import { tf } from '../../trainer/tf.js';
import { type OpDescriptor, opUnit, parseOpKey } from '../predict/ops.js';
import type { Entry, ProfilerSettings } from '../predict/table-schema.js';

export const DEFAULT_PROFILER: ProfilerSettings = {
  warmupRuns: 3,
  minRuns: 15,
  maxRuns: 200,
  minMillis: 40,
  batch: 1,
  statistic: 'p25',
};

export function summarise(samples: readonly number[]): Entry {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const median = quantile(sorted, 0.5);
  const p25 = quantile(sorted, 0.25);
  const mean = sorted.reduce((s, v) => s + v, 0) / n;
  const std = Math.sqrt(sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(n - 1, 1));
  return { mean, median, p25, std, runs: n };
}

/** The statistic a table's settings name, from an entry. */
export function statisticOf(entry: Entry, settings: ProfilerSettings): number {
  if (settings.statistic === 'p25') return entry.p25 ?? entry.median;
  return settings.statistic === 'mean' ? entry.mean : entry.median;
}

/** Times inference (`model.apply`, training off) on a fixed random input. */
export function timeModel(model: tf.LayersModel, settings: ProfilerSettings): Entry {
  // One random input per model input (a decoder op alone also takes its low-level features).
  const inputs = model.inputs.map((input, i) =>
    tf.randomNormal(
      (input.shape as (number | null)[]).map((d, axis) => (axis === 0 ? settings.batch : d!)),
      0,
      1,
      'float32',
      7 + i,
    ),
  );
  const feed = inputs.length === 1 ? inputs[0]! : inputs;
  try {
    const run = () => [model.apply(feed, { training: false })].flat() as tf.Tensor[];
    for (let i = 0; i < settings.warmupRuns; i++) tf.dispose(run());
    const samples: number[] = [];
    const start = performance.now();
    while (samples.length < settings.maxRuns && (samples.length < settings.minRuns || performance.now() - start < settings.minMillis)) {
      const t0 = performance.now();
      const out = run();
      samples.push(performance.now() - t0);
      tf.dispose(out);
    }
    return summarise(samples);
  } finally {
    tf.dispose(inputs);
  }
}

/** The fixed cost of one model call: a model whose only layer does (almost) nothing. */
export function measureDispatchMs(settings: ProfilerSettings): number {
  const input = tf.input({ shape: [1, 1, 1] });
  const output = tf.layers.activation({ activation: 'linear' }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  try {
    return timeModel(model, { ...settings, minRuns: Math.max(settings.minRuns, 50) }).median;
  } finally {
    model.dispose();
  }
}

/** Latency of one op alone, less the per-call dispatch cost. */
export function profileOp(op: OpDescriptor, settings: ProfilerSettings, dispatchMs: number): Entry {
  const model = buildUnitsModel([opUnit(op)], 'op');
  try {
    const e = timeModel(model, settings);
    return {
      ...e,
      mean: Math.max(0, e.mean - dispatchMs),
      median: Math.max(0, e.median - dispatchMs),
      p25: Math.max(0, (e.p25 ?? e.median) - dispatchMs),
    };
  } finally {
    model.dispose();
  }
}

/**
 * Latency of a whole model (one inference call), in the settings' statistic. Whole models are
 * what predictions are checked against, so they are timed longer than single ops (at least 20
 * runs and 300 ms of samples) and `rounds` times, keeping the lowest round: a burst of other work
 * on the machine during one round does not count.
 */
export function measureSpec(spec: ArchSpec, settings: ProfilerSettings, rounds = 2): number {
  const model = buildModel(spec);
  try {
    const long = { ...settings, minRuns: Math.max(settings.minRuns, 20), minMillis: Math.max(settings.minMillis, 300) };
    return Math.min(...Array.from({ length: rounds }, () => statisticOf(timeModel(model, long), settings)));
  } finally {
    model.dispose();
  }
}

/**
 * A fixed reference op (MobileNetV3-Large's third block), timed now and then to tell how fast the
 * machine runs at the moment. On a shared (virtual) machine the speed drifts by up to 30% for
 * minutes at a time (a neighbour's load): the same op timed 52 ms, then 40 ms three minutes later,
 * on an idle guest. Tables record the probe's latency at their reference speed, and every
 * measurement is scaled by reference / probe-now, so entries timed minutes apart add up.
 */
export const PROBE_KEY = 'bneck-in:56x56x24-exp:72-out:24-k:3-s:1-act:relu-res';

export class SpeedProbe {
  private readonly model: tf.LayersModel;
  private readonly settings: ProfilerSettings;
  /** The fastest reading so far: this machine's full speed, as far as this process has seen it. */
  fastestMs = Infinity;

  constructor(settings: ProfilerSettings) {
    this.model = buildUnitsModel([opUnit(parseOpKey(PROBE_KEY)!)], 'probe');
    this.settings = { ...settings, warmupRuns: 2, minRuns: 30, minMillis: 30, statistic: 'p25' };
  }

  /** The probe op's latency now (25th percentile of at least 30 runs). */
  measure(): number {
    const ms = statisticOf(timeModel(this.model, this.settings), this.settings);
    this.fastestMs = Math.min(this.fastestMs, ms);
    return ms;
  }

  /**
   * The machine's speed now relative to the reference (`referenceMs` / the probe's reading), as a
   * function to call before each timing: it reads the probe on its first call and again once
   * `everyMillis` have passed since the last reading (0: on every call).
   */
  speedTracker(referenceMs: number, everyMillis: number): () => number {
    let speed = 1;
    let lastReading = -Infinity;
    return () => {
      if (performance.now() - lastReading >= everyMillis) {
        speed = referenceMs / this.measure();
        lastReading = performance.now();
      }
      return speed;
    };
  }

  /**
   * A whole model's latency as timed and at the reference speed where the probe takes
   * `referenceMs`: short rounds of model runs alternate with probe readings so both see the same
   * machine state, and the median of the per-round ratios model / probe is scaled by referenceMs.
   */
  measureSpec(spec: ArchSpec, settings: ProfilerSettings, referenceMs: number, rounds = 12): { rawMs: number; measuredMs: number } {
    const model = buildModel(spec);
    try {
      timeModel(model, { ...settings, minRuns: 5, minMillis: 0 });
      const round = { ...settings, warmupRuns: 0, minRuns: 3, minMillis: 60 };
      const raw: number[] = [];
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const ms = statisticOf(timeModel(model, round), settings);
        raw.push(ms);
        ratios.push(ms / this.measure());
      }
      return { rawMs: summarise(raw).median, measuredMs: summarise(ratios).median * referenceMs };
    } finally {
      model.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** An entry timed at `speed` (reference / probe-now) as it would have timed at the reference speed. */
export function atReferenceSpeed(entry: Entry, speed: number): Entry {
  return {
    ...entry,
    mean: entry.mean * speed,
    median: entry.median * speed,
    p25: (entry.p25 ?? entry.median) * speed,
    std: entry.std * speed,
  };
}

let warm = false;

/** MobileNetV3-Small at 160x160, op by op: every layer type a table times. */
const WARM_UP_KEYS = [
  'conv-in:160x160x3-out:16-k:3-s:2-act:hswish',
  'dsconv-in:80x80x16-out:16-k:3-s:2-act:relu-se:8.hsigmoid.relu',
  'bneck-in:40x40x16-exp:72-out:24-k:3-s:2-act:relu',
  'bneck-in:20x20x24-exp:88-out:24-k:3-s:1-act:relu-res',
  'bneck-in:20x20x24-exp:96-out:40-k:5-s:2-act:hswish-se:24.hsigmoid.relu',
  'bneck-in:10x10x40-exp:240-out:40-k:5-s:1-act:hswish-se:64.hsigmoid.relu-res',
  'bneck-in:10x10x48-exp:288-out:96-k:5-s:2-act:hswish-se:72.hsigmoid.relu',
  'conv-in:5x5x96-out:576-k:1-s:1-act:hswish',
  'pool-in:5x5x576',
  'dense-in:576-out:1024-act:hswish',
  'dense-in:1024-out:1000',
];

/**
 * Runs the layers of a mid-sized network for a while before anything is timed, once per process
 * (or page): the first seconds of tfjs run slower (V8 is still compiling its execution paths),
 * which would inflate the first measurements by 10-20%.
 */
export function warmUp(ms = 2000): void {
  if (warm) return;
  warm = true;
  const models = WARM_UP_KEYS.map((key) => buildUnitsModel([opUnit(parseOpKey(key)!)], 'warm-up'));
  const inputs = models.map((model) => tf.zeros([1, ...(model.inputs[0]!.shape.slice(1) as number[])]));
  const start = performance.now();
  while (performance.now() - start < ms)
    models.forEach((model, i) => {
      tf.dispose(model.apply(inputs[i]!, { training: false }) as tf.Tensor);
    });
  tf.dispose(inputs);
  models.forEach((model) => {
    model.dispose();
  });
}
