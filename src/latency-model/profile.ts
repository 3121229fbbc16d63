/**
 * Timing ops and models with tfjs, in Node or in a browser (this module touches no files).
 *
 * Each op is built alone as a LayersModel (exactly the layers the full model runs for it), warmed
 * up, then run until it has at least `minRuns` runs and `minMillis` of samples; the entry keeps the
 * median (robust to the shared machine's outliers), mean and standard deviation.
 *
 * Models run through `apply` (graph execution), not `predict`: predict() slices its input into
 * batches and concatenates the outputs, copies that a whole model pays once but an op measured
 * alone would pay for every op. Every call still pays a fixed dispatch cost that a whole model
 * pays once: it is measured on an empty model and subtracted from each op.
 */
import * as tf from '@tensorflow/tfjs';
import type { ArchSpec } from '../search-space/archspec.js';
import { buildModel, buildUnitsModel } from '../trainer/build-model.js';
import { opUnit, type OpDescriptor } from './ops.js';
import type { Entry, ProfilerSettings } from './table.js';

export const DEFAULT_PROFILER: ProfilerSettings = {
  warmupRuns: 3,
  minRuns: 15,
  maxRuns: 200,
  minMillis: 40,
  batch: 1,
  statistic: 'median',
};

export function summarise(samples: readonly number[]): Entry {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  const mean = sorted.reduce((s, v) => s + v, 0) / n;
  const std = Math.sqrt(sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(n - 1, 1));
  return { mean, median, std, runs: n };
}

/** Times inference (`model.apply`, training off) on a fixed random input. */
export function timeModel(model: tf.LayersModel, settings: ProfilerSettings): Entry {
  const inputShape = (model.inputs[0]!.shape as (number | null)[]).map((d, i) => (i === 0 ? settings.batch : d!));
  const input = tf.randomNormal(inputShape, 0, 1, 'float32', 7);
  try {
    const run = () => model.apply(input, { training: false }) as tf.Tensor;
    for (let i = 0; i < settings.warmupRuns; i++) run().dispose();
    const samples: number[] = [];
    const start = performance.now();
    while (samples.length < settings.maxRuns && (samples.length < settings.minRuns || performance.now() - start < settings.minMillis)) {
      const t0 = performance.now();
      const out = run();
      samples.push(performance.now() - t0);
      out.dispose();
    }
    return summarise(samples);
  } finally {
    input.dispose();
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
    return { ...e, mean: Math.max(0, e.mean - dispatchMs), median: Math.max(0, e.median - dispatchMs) };
  } finally {
    model.dispose();
  }
}

/** Latency of a whole model (one inference call). */
export function profileSpec(spec: ArchSpec, settings: ProfilerSettings): Entry {
  const model = buildModel(spec);
  try {
    return timeModel(model, settings);
  } finally {
    model.dispose();
  }
}
