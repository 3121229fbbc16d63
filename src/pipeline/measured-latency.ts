/**
 * The pipeline's measured latency: models timed whole on this machine with validation's protocol
 * (latency-model/measure/whole-model.ts: the speed gate, passes until two timings agree, the
 * fastest kept, scaled to the table's reference speed), at the table's resolution and classifier
 * width. Only a table profiled on this machine and backend is comparable with a time measured
 * here; for any other (a phone's) the measurement is null with the reason, never a misleading number.
 */
import { cpus } from 'node:os';
import type { PipelineSettings } from '../controller/experiment.js';
import { DEFAULT_SPEED_GATE } from '../latency-model/measure/speed-gate.js';
import { timeAgainstTable } from '../latency-model/measure/whole-model.js';
import { profiledHere } from '../latency-model/predict/oracle.js';
import type { LatencyTable } from '../latency-model/predict/table-schema.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { currentBackend } from '../trainer/backend.js';

/** The measurement settings of a pipeline section without `measure`. */
export const DEFAULT_PIPELINE_MEASURE: NonNullable<PipelineSettings['measure']> = { passes: 2, maxWaitSeconds: 60 };

export type MeasuredLatencies =
  /** Per spec, at the table's reference speed (measuredMs) and as timed (rawMs). */
  | { measured: { measuredMs: number; rawMs: number }[]; reason: null }
  /** Nothing timed: why a time measured here would not be the table's latency. */
  | { measured: null; reason: string };

/**
 * Times each spec (already at the table's resolution and classes) on this machine when the table
 * was profiled here (the tfjs backend must be prepared); otherwise returns the reason it does not.
 */
export async function measureOnThisMachine(
  specs: readonly ArchSpec[],
  table: LatencyTable,
  measure: NonNullable<PipelineSettings['measure']> = DEFAULT_PIPELINE_MEASURE,
  signal?: AbortSignal,
): Promise<MeasuredLatencies> {
  if (!profiledHere(table)) {
    const here = `${cpus()[0]?.model ?? 'unknown'}, ${currentBackend().backend}`;
    return {
      measured: null,
      reason: `table ${table.name} was profiled on ${table.device.name} (${table.device.cpu}, ${table.device.backend}), not on this machine (${here}): a time measured here would not be its latency`,
    };
  }
  const gate = { ...DEFAULT_SPEED_GATE, maxWaitSeconds: measure.maxWaitSeconds };
  const timings = await timeAgainstTable(specs, table, gate, { passes: measure.passes, signal });
  return { measured: timings.map(({ measuredMs, rawMs }) => ({ measuredMs, rawMs })), reason: null };
}
