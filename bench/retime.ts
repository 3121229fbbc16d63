/**
 * Timing a table's entries again, like for like, and judging how self-consistent a set of timings
 * is: what bench/table-repeatability and bench/profile-protocol share.
 */

import { quantile } from '../src/common/quantile.js';
import { atReferenceSpeed, PROBE_KEY, profileOp, type SpeedProbe, statisticOf } from '../src/latency-model/measure/profile.js';
import { leaveOneOut, looStats, tablePoints } from '../src/latency-model/predict/estimator.js';
import { parseOpKey } from '../src/latency-model/predict/ops.js';
import type { Entry, LatencyTable } from '../src/latency-model/predict/table-schema.js';

/** The table, refused unless it records the speed probe and profiler settings a like-for-like re-timing needs. */
export function retimable(table: LatencyTable, name: string): LatencyTable {
  if (!table.probe || table.probe.key !== PROBE_KEY || !table.profiler)
    throw new Error(`table ${name} records no speed probe or profiler settings: it cannot be timed again like for like`);
  return table;
}

/**
 * One timing of each key with the table's profiler settings, in its statistic, scaled to the
 * table's reference speed by the probe: read before every op, or (as `nas profile` does) at most
 * once a second. With `label`, progress every 50 keys on stderr.
 */
export function timeKeys(
  table: LatencyTable,
  keys: readonly string[],
  probe: SpeedProbe,
  options: { probeEveryOp: boolean; label?: string },
): Map<string, number> {
  const dispatchMs = Number(table.device['dispatchMs'] ?? 0);
  const times = new Map<string, number>();
  const started = performance.now();
  const speedNow = probe.speedTracker(table.probe!.ms, options.probeEveryOp ? 0 : 1000);
  keys.forEach((key, i) => {
    const speed = speedNow();
    const entry = profileOp(parseOpKey(key)!, table.profiler!, dispatchMs);
    times.set(key, statisticOf(atReferenceSpeed(entry, speed), table.profiler!));
    if (options.label && (i + 1) % 50 === 0)
      process.stderr.write(`${options.label}: ${i + 1}/${keys.length} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  });
  return times;
}

/** The table with only these keys, each priced `ms(key)` (in every statistic, so the table's own statistic reads it). */
export function tableWithTimes(table: LatencyTable, keys: readonly string[], ms: (key: string) => number): LatencyTable {
  const entry = (v: number): Entry => ({ mean: v, median: v, p25: v, std: 0, runs: 1 });
  return { ...table, estimator: undefined, entries: Object.fromEntries(keys.map((k) => [k, entry(ms(k))])) };
}

/** The estimator's leave-one-out on a table: share within +-10% and median error. */
export function looOf(table: LatencyTable): { within10: number | null; medianAbsError: number | null } {
  const points = tablePoints(table);
  const { within10, medianAbsError } = looStats(points, leaveOneOut(points));
  return { within10, medianAbsError };
}

export interface Agreement {
  within10: number;
  medianAbsError: number;
  p90AbsError: number;
}

/** How often (and by how much) `values` differ from `references` by more than 10%. */
export function agreement(values: readonly number[], references: readonly number[]): Agreement {
  const errors = values.map((v, i) => Math.abs(v / references[i]! - 1)).sort((a, b) => a - b);
  return {
    within10: errors.filter((e) => e <= 0.1).length / errors.length,
    medianAbsError: quantile(errors, 0.5),
    p90AbsError: quantile(errors, 0.9),
  };
}
