/** Latency tables for tests: given latencies, or latencies proportional to multiply-adds. */

import { DEFAULT_PROFILER } from '../../src/latency-model/measure/profile.js';
import { opKey, unitOp } from '../../src/latency-model/predict/ops.js';
import { LATENCY_TABLE_VERSION, type LatencyTable, parseLatencyTable } from '../../src/latency-model/predict/table-schema.js';
import type { ArchSpec } from '../../src/search-space/archspec.js';
import { unitCost } from '../../src/search-space/cost.js';
import { resolve, type Unit } from '../../src/search-space/resolve.js';

const SYNTHETIC_DEVICE = { name: 'synthetic', runtime: 'none', backend: 'none', threads: 1, cpu: 'none', tfjsVersion: null, date: 'now' };

/** A validated table whose every entry takes the given milliseconds (mean = median, one run). */
export function latencyTable(
  latencies: Record<string, number>,
  options: { name?: string; resolutions: number[]; overheadMs?: number; device?: Record<string, unknown> },
): LatencyTable {
  const name = options.name ?? 'synthetic';
  return parseLatencyTable(
    {
      schemaVersion: LATENCY_TABLE_VERSION,
      kind: 'latency-table',
      name,
      device: options.device ?? SYNTHETIC_DEVICE,
      profiler: DEFAULT_PROFILER,
      source: { command: 'test' },
      resolutions: options.resolutions,
      overheadMs: options.overheadMs ?? 0,
      overheadFit: null,
      entries: Object.fromEntries(Object.entries(latencies).map(([key, ms]) => [key, { mean: ms, median: ms, std: 0, runs: 1 }])),
    },
    `${name} table`,
  );
}

/** Latency proportional to multiply-adds, plus a floor, for each unit's op key. */
export function maddsLatencies(units: Iterable<Unit>): Record<string, number> {
  const latencies: Record<string, number> = {};
  for (const unit of units) latencies[opKey(unitOp(unit))] = 0.01 + unitCost(unit).madds / 1e6;
  return latencies;
}

/** A table covering every op of the spec at its own resolution. */
export function specTable(spec: ArchSpec): LatencyTable {
  return latencyTable(maddsLatencies(resolve(spec).units), { resolutions: [spec.input.resolution] });
}
