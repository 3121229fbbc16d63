/**
 * Latency for a stream of new architectures (NetAdapt's proposals): the table's entries, and for an
 * op the table lacks either a measurement taken now (when the table was profiled on this machine
 * and backend, so the new entry is comparable) or an interpolated estimate. New measurements are
 * kept and can be saved with the run.
 */
import { cpus } from 'node:os';
import type { ArchSpec } from '../../search-space/archspec.js';
import { withInput } from '../../search-space/io.js';
import { currentBackend } from '../../trainer/backend.js';
import { atReferenceSpeed, DEFAULT_PROFILER, profileOp, warmUp } from '../measure/profile.js';
import { machineSpeed } from '../measure/whole-model.js';
import { specOps } from './ops.js';
import { type Prediction, predictLatency } from './predict.js';
import type { Entry, LatencyTable } from './table-schema.js';

export interface OracleOptions {
  /** Resolution and classifier width of the deployed model whose latency counts. */
  resolution: number;
  classes: number;
  /** Measure missing ops on this machine when the table comes from it (default true). */
  measureMissing?: boolean;
}

export class LatencyOracle {
  readonly table: LatencyTable;
  readonly measures: boolean;
  private readonly added: Record<string, Entry> = {};
  estimated = 0;

  constructor(
    table: LatencyTable,
    private readonly options: OracleOptions,
    extra: Record<string, Entry> = {},
  ) {
    this.table = { ...table, entries: { ...table.entries, ...extra } };
    Object.assign(this.added, extra);
    const here = currentBackend();
    this.measures =
      (options.measureMissing ?? true) && table.device.backend === here.backend && table.device.cpu === (cpus()[0]?.model ?? 'unknown');
  }

  /** The spec at the deployment resolution and classifier width. */
  deployed(spec: ArchSpec): ArchSpec {
    return withInput(spec, { resolution: this.options.resolution, classes: this.options.classes });
  }

  predict(spec: ArchSpec): Prediction {
    const deployed = this.deployed(spec);
    if (this.measures) {
      const dispatchMs = Number(this.table.device['dispatchMs'] ?? 0);
      const settings = this.table.profiler ?? DEFAULT_PROFILER;
      const missing = specOps(deployed).filter((op) => !this.table.entries[op.key]);
      if (missing.length) warmUp();
      // New entries at the table's reference speed, like the ones it has.
      const speed = missing.length ? machineSpeed(this.table, settings) : 1;
      for (const op of missing) {
        if (this.table.entries[op.key]) continue;
        const entry = atReferenceSpeed(profileOp(op.op, settings, dispatchMs), speed);
        this.table.entries[op.key] = entry;
        this.added[op.key] = entry;
      }
    }
    const prediction = predictLatency(deployed, this.table, { interpolate: !this.measures });
    this.estimated += prediction.estimated.length;
    return prediction;
  }

  latencyOf(spec: ArchSpec): number {
    return this.predict(spec).totalMs;
  }

  /** Entries measured by this oracle (to save with the run). */
  measured(): Record<string, Entry> {
    return { ...this.added };
  }
}
