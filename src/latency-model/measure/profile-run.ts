/**
 * Profiling a whole table on this machine: every unique op of a space (or of given specs), scaled to
 * the table's reference speed by the speed probe, then the scale and overhead fitted on whole-model
 * runs. Resumable: the table file is rewritten atomically every few seconds with what has been
 * measured, and a rerun with the same --out skips those ops (and keeps the first run's reference
 * speed; a table written before the probe existed takes this run's).
 */

import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { InputError, InterruptedError } from '../../common/errors.js';
import { countOf } from '../../common/format.js';
import { writeJsonAtomic } from '../../common/json-io.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import { currentBackend } from '../../trainer/backend.js';
import { tf } from '../../trainer/tf.js';
import { type OpDescriptor, opKey } from '../predict/ops.js';
import { predictLatency } from '../predict/predict.js';
import {
  type Device,
  type Entry,
  LATENCY_TABLE_VERSION,
  type LatencyTable,
  type ProfilerSettings,
  readLatencyTable,
} from '../predict/table-schema.js';
import { atReferenceSpeed, measureDispatchMs, PROBE_KEY, profileOp, SpeedProbe, warmUp } from './profile.js';
import { DEFAULT_SPEED_GATE, type SpeedGate } from './speed-gate.js';
import { timeModels } from './whole-model.js';

export interface ProfileProgress {
  done: number;
  total: number;
  key: string;
  elapsedSeconds: number;
  etaSeconds: number;
  phase: 'ops' | 'calibration';
}

export interface ProfileRequest {
  name: string;
  ops: readonly OpDescriptor[];
  /** Whole models measured to fit the constant overhead. */
  calibration: readonly ArchSpec[];
  resolutions: number[];
  out: string;
  settings: ProfilerSettings;
  command: string;
  /** When to time the calibration models (default DEFAULT_SPEED_GATE). */
  gate?: SpeedGate;
  onProgress?: (p: ProfileProgress) => void;
  signal?: AbortSignal;
}

export interface ProfileResult {
  table: LatencyTable;
  measured: number;
  reused: number;
  seconds: number;
}

/** This machine as a table's device. */
export function thisDevice(dispatchMs: number): Device {
  const { backend, threads } = currentBackend();
  const cpu = cpus()[0]?.model ?? 'unknown';
  return {
    name: `${cpu} (${cpus().length} cores), ${backend}, ${countOf(threads, 'thread')}`,
    runtime: 'tfjs-layers',
    backend,
    threads,
    cpu,
    tfjsVersion: tf.version.tfjs,
    runtimeVersion: `tfjs ${tf.version.tfjs} (${backend}), Node ${process.version}`,
    date: new Date().toISOString(),
    dispatchMs,
  };
}

function compatible(existing: LatencyTable, device: Device, settings: ProfilerSettings): string | null {
  if (existing.device.backend !== device.backend || existing.device.threads !== device.threads)
    return `it was profiled with ${existing.device.backend}, ${existing.device.threads} thread(s)`;
  if (existing.device.cpu !== device.cpu) return `it was profiled on ${existing.device.cpu}`;
  if (JSON.stringify(existing.profiler) !== JSON.stringify(settings)) return 'it used other profiler settings';
  return null;
}

export async function profileToTable(request: ProfileRequest): Promise<ProfileResult> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  warmUp();
  const unique = new Map<string, OpDescriptor>();
  for (const op of request.ops) unique.set(opKey(op), op);
  const start = startFrom(request);
  const reused = [...unique.keys()].filter((k) => start.entries[k]).length;
  const probe = new SpeedProbe(request.settings);
  try {
    // Entries are kept at the table's reference speed: the probe's first reading, or the reading an
    // earlier run of this table recorded, so that ops profiled across runs add up.
    const probeMs = start.referenceMs ?? Math.min(probe.measure(), probe.measure(), probe.measure());
    const run: ProfileRun = { request, start, probe, probeMs, elapsed, table: () => tableSoFar(request, start, probeMs) };
    const todo = [...unique.entries()].filter(([key]) => !start.entries[key]);
    await profileOps(run, todo, unique.size);
    const final = await calibrate(run);
    await writeJsonAtomic(request.out, final);
    return { table: final, measured: todo.length, reused, seconds: elapsed() };
  } finally {
    probe.dispose();
  }
}

/** Where a run starts: the table at --out when it exists (a resumed run), else nothing; this machine. */
interface Start {
  /** The table's entries; the run adds to them. */
  entries: Record<string, Entry>;
  /** Whole models measured by earlier runs into this table. */
  earlierModels: { name: string; measuredMs: number; sumMs: number }[];
  earlierFit: Pick<LatencyTable, 'scale' | 'overheadMs' | 'overheadFit'>;
  dispatchMs: number;
  device: Device;
  /** The probe's latency at the table's reference speed, as the existing table recorded it. */
  referenceMs: number | undefined;
}

function startFrom(request: ProfileRequest): Start {
  if (!existsSync(request.out)) {
    const dispatchMs = measureDispatchMs(request.settings);
    const earlierFit = { scale: 1, overheadMs: 0, overheadFit: null };
    return { entries: {}, earlierModels: [], earlierFit, dispatchMs, device: thisDevice(dispatchMs), referenceMs: undefined };
  }
  const existing = readLatencyTable(request.out);
  const referenceMs = existing.probe?.key === PROBE_KEY ? existing.probe.ms : undefined;
  const dispatchMs = Number(existing.device['dispatchMs'] ?? measureDispatchMs(request.settings));
  const device = thisDevice(dispatchMs);
  const conflict = compatible(existing, device, request.settings);
  if (conflict) throw new InputError(`${request.out} exists and ${conflict}: choose another --out or delete it`);
  return {
    entries: { ...existing.entries },
    // Whole models measured by earlier runs into this table still count for the overhead
    // (their ops' entries are kept as they were, so their sums hold).
    earlierModels: existing.overheadFit?.models ?? [],
    earlierFit: { scale: existing.scale, overheadMs: existing.overheadMs, overheadFit: existing.overheadFit },
    dispatchMs,
    device,
    referenceMs,
  };
}

/** What the steps of a profiling run share. */
interface ProfileRun {
  request: ProfileRequest;
  start: Start;
  probe: SpeedProbe;
  /** The probe's latency at the table's reference speed. */
  probeMs: number;
  elapsed: () => number;
  /** The table with the entries so far. */
  table: () => LatencyTable;
}

function tableSoFar(request: ProfileRequest, start: Start, probeMs: number): LatencyTable {
  return {
    schemaVersion: LATENCY_TABLE_VERSION,
    kind: 'latency-table',
    name: request.name,
    device: start.device,
    profiler: request.settings,
    source: { command: request.command },
    resolutions: request.resolutions,
    probe: { key: PROBE_KEY, ms: probeMs },
    // Until this run's calibration, an interrupted save keeps the table's earlier fit.
    ...start.earlierFit,
    entries: start.entries,
  };
}

/**
 * Times the ops the table lacks, each scaled to the reference speed by the probe (read at most once
 * a second), saving the table every few seconds; an abort saves it and throws.
 */
async function profileOps(run: ProfileRun, todo: readonly [string, OpDescriptor][], uniqueOps: number): Promise<void> {
  const { request, start, probe, probeMs, elapsed } = run;
  const speedNow = probe.speedTracker(probeMs, 1000);
  let lastSave = performance.now();
  // The ETA is paced by the ops alone: the run's start also covers loading and the speed probe,
  // which made the first ETAs of a resumed run (few ops left) many times too long.
  const opsStarted = performance.now();
  for (const [i, [key, op]] of todo.entries()) {
    if (request.signal?.aborted) {
      await writeJsonAtomic(request.out, run.table());
      throw new InterruptedError(
        `profiling interrupted after ${Object.keys(start.entries).length} of ${uniqueOps} ops: kept in ${request.out}; run the same command again to finish`,
      );
    }
    const speed = speedNow();
    start.entries[key] = atReferenceSpeed(profileOp(op, request.settings, start.dispatchMs), speed);
    const done = i + 1;
    request.onProgress?.({
      done,
      total: todo.length,
      key,
      elapsedSeconds: elapsed(),
      etaSeconds: ((performance.now() - opsStarted) / 1000 / done) * (todo.length - done),
      phase: 'ops',
    });
    if (performance.now() - lastSave > 3000) {
      await writeJsonAtomic(request.out, run.table());
      lastSave = performance.now();
    }
  }
}

/** Times the calibration models and fits the table's scale and overhead on them and on the earlier runs' models. */
async function calibrate(run: ProfileRun): Promise<LatencyTable> {
  const { request, elapsed } = run;
  // Timed as validation times them (./whole-model.ts), so the fit and the check agree.
  const timings = await timeModels(request.calibration, request.settings, run.probe, run.probeMs, request.gate ?? DEFAULT_SPEED_GATE, {
    onProgress: (done, total) =>
      request.onProgress?.({
        done,
        total,
        key: request.calibration[(done - 1) % request.calibration.length]!.name,
        elapsedSeconds: elapsed(),
        etaSeconds: 0,
        phase: 'calibration',
      }),
  });
  const models = request.calibration.map((spec, i) => ({ spec, measuredMs: timings[i]!.measuredMs }));
  return fitOverhead(
    run.table(),
    models,
    run.start.earlierModels.filter((m) => !models.some((n) => n.spec.name === m.name)),
  );
}

/**
 * Fits the table's correction on whole models: measured ~ scale x (sum of entries) + overhead, by
 * least squares on relative errors (so small and large models count alike). With fewer than three
 * models, or a fit outside [0.8, 1.3], the scale stays 1 and the overhead is the median residual.
 * Every measured model is recorded in overheadFit.
 */
export function fitOverhead(
  table: LatencyTable,
  measured: readonly { spec: ArchSpec; measuredMs: number }[],
  earlier: readonly { name: string; measuredMs: number; sumMs: number }[] = [],
): LatencyTable {
  const plain = { ...table, scale: 1, overheadMs: 0 };
  const models = [
    ...earlier,
    ...measured.map(({ spec, measuredMs }) => ({ name: spec.name, measuredMs, sumMs: predictLatency(spec, plain).sumMs })),
  ];
  const { scale, overheadMs, method } = fitCorrection(models);
  return { ...table, scale, overheadMs, overheadFit: { models, method } };
}

export function fitCorrection(models: readonly { measuredMs: number; sumMs: number }[]): {
  scale: number;
  overheadMs: number;
  method: string;
} {
  let [sw, ss, sm, sss, ssm] = [0, 0, 0, 0, 0];
  for (const { sumMs: s, measuredMs: m } of models) {
    const w = 1 / (m * m);
    sw += w;
    ss += w * s;
    sm += w * m;
    sss += w * s * s;
    ssm += w * s * m;
  }
  const det = sw * sss - ss * ss;
  if (models.length >= 3 && det > 1e-12) {
    const scale = (sw * ssm - ss * sm) / det;
    if (scale >= 0.8 && scale <= 1.3)
      return {
        scale,
        overheadMs: (sm - scale * ss) / sw,
        method: 'weighted least squares of measured = scale x sum + overhead (weights 1/measured^2)',
      };
  }
  const residuals = models.map((m) => m.measuredMs - m.sumMs).sort((a, b) => a - b);
  const n = residuals.length;
  const overheadMs = n === 0 ? 0 : n % 2 ? residuals[(n - 1) / 2]! : (residuals[n / 2 - 1]! + residuals[n / 2]!) / 2;
  return { scale: 1, overheadMs, method: 'median of (whole-model latency - sum of entries)' };
}
