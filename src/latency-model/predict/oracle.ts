/**
 * Latency for a stream of new architectures (NetAdapt's proposals): the table's entries, and for an
 * op the table lacks (NetAdapt produces widths no table has) one of:
 * - `measure`: a measurement taken now, comparable only when the table was profiled on this
 *   machine and backend. New measurements are kept and can be saved with the run.
 * - `estimate`: the table's latency estimator (estimator.ts), e.g. for a phone's table.
 * - `interpolate`: between measured ops of the same family (predict.ts).
 * `auto` (the default) measures when the table comes from here and estimates otherwise.
 */
import { cpus } from 'node:os';
import { InputError } from '../../common/errors.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import { withInput } from '../../search-space/io.js';
import { currentBackend } from '../../trainer/backend.js';
import { atReferenceSpeed, DEFAULT_PROFILER, profileOp, warmUp } from '../measure/profile.js';
import { machineSpeed } from '../measure/whole-model.js';
import { specOps } from './ops.js';
import type { OracleMissing } from './oracle-missing.js';
import { type Prediction, predictLatency } from './predict.js';
import type { Entry, LatencyTable } from './table-schema.js';

export interface OracleOptions {
  /** Resolution and classifier width of the deployed model whose latency counts. */
  resolution: number;
  classes: number;
  /** How ops the table lacks are priced (see the header); default `auto`. */
  missing?: OracleMissing | undefined;
}

/** Whether a table was profiled on this machine's CPU, whatever the backend (an imported or a phone's table was not). */
export function profiledOnThisCpu(table: LatencyTable): boolean {
  return table.device.cpu === thisCpu();
}

export const thisCpu = () => cpus()[0]?.model ?? 'unknown';

/** Whether a table was profiled on this machine and backend (so that an op timed here is comparable with its entries). */
export function profiledHere(table: LatencyTable): boolean {
  return table.device.backend === currentBackend().backend && profiledOnThisCpu(table);
}

export class LatencyOracle {
  readonly table: LatencyTable;
  /** How this oracle prices the ops its table lacks (`auto` resolved). */
  readonly missing: Exclude<OracleMissing, 'auto'>;
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
    const here = profiledHere(table);
    const missing = options.missing ?? 'auto';
    if (missing === 'measure' && !here)
      throw new InputError(
        `table ${table.name} was profiled on ${table.device.name} (${table.device.cpu}, ${table.device.backend}), not here: ops timed here would not be comparable with its entries; estimate them instead (--latency-missing estimate)`,
      );
    this.missing = missing === 'auto' ? (here ? 'measure' : 'estimate') : missing;
    this.measures = this.missing === 'measure';
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
    const prediction = predictLatency(deployed, this.table, {
      interpolate: this.missing === 'interpolate',
      estimate: this.missing === 'estimate',
    });
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
