/**
 * The latency validation run (`nas latency validate`), owned here and nowhere else: the files it
 * writes in its output directory (named after the table, so validations of several tables share a
 * directory such as results/), the record (the report with the space, seed and device, validated on
 * read), the predicted-vs-measured plot, and the summary the CLI prints.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, InterruptedError } from '../../common/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../../common/json-io.js';
import { withRunLock } from '../../common/run-lock.js';
import { scatterPlot } from '../../common/svg.js';
import { parseWith } from '../../common/validate.js';
import { getSpace } from '../../search-space/spaces.js';
import { tableHash } from '../predict/table-ref.js';
import { DeviceSchema, type LatencyTable } from '../predict/table-schema.js';
import { DEFAULT_PROFILER } from './profile.js';
import { DEFAULT_SPEED_GATE, type SpeedGate } from './speed-gate.js';
import { type Fidelity, pointIndex, type ValidationReport, validateTable } from './validation.js';
import type { GateWait, ModelTiming } from './whole-model.js';

/** Every file a validation run writes: `latency-validation-<table>` with these extensions. */
export const VALIDATION_RUN_FILES = {
  record: '.json',
  plot: '.svg',
} as const;

export type ValidationRunFile = keyof typeof VALIDATION_RUN_FILES;

const FILE_STEM = 'latency-validation';

const FidelitySchema = z.strictObject({
  within5: z.number(),
  within10: z.number(),
  mape: z.number(),
  kendallTau: z.number(),
});

const TimingSchema = z.strictObject({ rawMs: z.number(), measuredMs: z.number(), speedBefore: z.number().optional() });

const ValidationRecordSchema = z.strictObject({
  schemaVersion: z.literal(1),
  kind: z.literal('latency-validation'),
  /** The space as given (a name or a search-space file). */
  space: z.string(),
  seed: z.number(),
  device: DeviceSchema,
  /** The validated table's hash (tableHash; absent in records from before resumable validations). */
  tableHash: z.string().optional(),
  /** The models timed (all of `requested` unless the run stopped early). */
  samples: z.int().min(0),
  /** The models asked for; absent in records from before partial records. */
  requested: z.int().min(0).optional(),
  /** false while the run is going (the record is rewritten after each timing) or when it was stopped. */
  complete: z.boolean().optional(),
  ...FidelitySchema.shape,
  table: z.string(),
  /** The same measures on the timings as taken (not scaled to the table's machine speed). */
  raw: FidelitySchema,
  points: z.array(
    z.strictObject({
      name: z.string(),
      predictedMs: z.number(),
      rawMs: z.number(),
      measuredMs: z.number(),
      speedBefore: z.number().optional(),
      /** Every timing of the model (absent in records from before resumable validations). */
      timings: z.array(TimingSchema).optional(),
    }),
  ),
});

/** `latency-validation-<table>.json`: the validation report and what it validated. */
export type ValidationRecord = z.infer<typeof ValidationRecordSchema>;

/** What `nas latency validate` prints (its --json line): the fidelity, and how many models were timed at full speed. */
export interface ValidationSummary extends Fidelity {
  samples: number;
  table: string;
  raw: Fidelity;
  atFullSpeed: number;
}

export class ValidationRunDir {
  constructor(
    readonly dir: string,
    /** The validated table's name. */
    readonly table: string,
  ) {}

  file(name: ValidationRunFile): string {
    return path.join(this.dir, `${FILE_STEM}-${this.table}${VALIDATION_RUN_FILES[name]}`);
  }

  /** The record, validated. */
  readRecord(): ValidationRecord {
    const file = this.file('record');
    if (!existsSync(file)) throw new InputError(`${this.dir}: no validation of table ${this.table} (no ${path.basename(file)})`);
    return parseWith(ValidationRecordSchema, readJsonFile(file), file);
  }

  async writeRecord(record: Omit<ValidationRecord, 'schemaVersion' | 'kind'>): Promise<void> {
    const full: ValidationRecord = { schemaVersion: 1, kind: 'latency-validation', ...record };
    await writeJsonAtomic(this.file('record'), full);
  }

  async writePlot(report: ValidationReport): Promise<void> {
    await writeFileAtomic(this.file('plot'), validationPlot(report));
  }
}

/**
 * A validation never replaces a record silently (the default directory, results/, holds the
 * committed one): an existing record of the table in the directory is refused, naming what it holds.
 */
function refuseToReplace(run: ValidationRunDir): void {
  const file = run.file('record');
  if (!existsSync(file)) return;
  let held = 'a validation record';
  let unfinished = false;
  try {
    const record = run.readRecord();
    unfinished = record.complete === false;
    const of = unfinished ? ` of ${record.requested ?? '?'}` : '';
    held = `a validation of ${record.samples}${of} model${record.samples === 1 && !of ? '' : 's'} (space ${record.space}, seed ${record.seed})`;
  } catch {
    // An unreadable record is still not replaced without --force.
  }
  const what = unfinished ? 'give --resume to continue it, --force to start over' : 'give --force to replace it';
  throw new InputError(`${file}: ${held} of table ${run.table} is already there; ${what}, or --out another directory`);
}

/**
 * The draw and timings an interrupted validation in the directory left: its space, seed and model
 * count replace the request's (a resume times the same models), its timings are not taken again.
 */
function unfinishedValidation(
  run: ValidationRunDir,
  table: LatencyTable,
): Pick<ValidationRunRequest, 'space' | 'seed' | 'samples'> & { previous: ModelTiming[][] } {
  const record = run.readRecord();
  const file = run.file('record');
  if (record.complete !== false)
    throw new InputError(`${file}: this validation is complete; nothing to resume (give --force to run it again)`);
  if (record.requested === undefined || !record.tableHash || record.points.some((p) => !p.timings))
    throw new InputError(`${file}: recorded before validations could be resumed; give --force to start over`);
  if (record.tableHash !== tableHash(table))
    throw new InputError(
      `${file}: validated table ${table.name} with hash ${record.tableHash}, the table given has hash ${tableHash(table)} (another or re-profiled table); give the same --table to resume, or --force to start over`,
    );
  const previous: ModelTiming[][] = Array.from({ length: record.requested }, () => []);
  for (const point of record.points) previous[pointIndex(point)] = point.timings!;
  return { space: record.space, seed: record.seed, samples: record.requested, previous };
}

/** Predicted against measured latency, one point per model, with the diagonal. */
export function validationPlot(report: ValidationReport): string {
  return scatterPlot(
    report.points.map((p) => ({ x: p.measuredMs, y: p.predictedMs, label: p.name, group: p.name.split('-variant')[0] })),
    {
      title: `Latency: predicted vs measured (${report.table}, ${report.samples} models)`,
      xLabel: 'measured (ms)',
      yLabel: 'predicted (ms)',
      diagonal: true,
    },
  );
}

/** The summary of a report; a model counts as timed at full speed when its scaled time is at least minSpeed of its raw time. */
export function validationSummary(report: ValidationReport, minSpeed: number): ValidationSummary {
  return {
    samples: report.samples,
    within5: report.within5,
    within10: report.within10,
    mape: report.mape,
    kendallTau: report.kendallTau,
    table: report.table,
    raw: report.raw,
    atFullSpeed: report.points.filter((p) => p.measuredMs >= minSpeed * p.rawMs).length,
  };
}

export interface ValidationRunRequest {
  /** A table profiled on this machine (validation times models here). */
  table: LatencyTable;
  /** Where the architectures come from: a space name or a search-space file (recorded as given). */
  space: string;
  samples: number;
  seed: number;
  /** The output directory. */
  dir: string;
  /** When to time a model (default DEFAULT_SPEED_GATE). */
  gate?: SpeedGate;
  onProgress?: (done: number, total: number) => void;
  /** Each wait at the speed gate, about once a second while it lasts. */
  onWait?: (wait: GateWait) => void;
  /** Stops the run between timings; the record of what was timed is kept (complete: false). */
  signal?: AbortSignal;
  /** Replace a record of the same table already in `dir` (without it, such a record is refused). */
  force?: boolean | undefined;
  /**
   * Continue the interrupted validation of the table in `dir`: its space, seed and model count are
   * used (the request's are ignored) and the models it timed are not timed again.
   */
  resume?: boolean | undefined;
  /** The command that continues this run after an interruption (named in the interruption's message). */
  resumeWith?: string;
}

export interface ValidationRunResult {
  summary: ValidationSummary;
  report: ValidationReport;
  /** The files written, by name. */
  files: Record<ValidationRunFile, string>;
}

/**
 * Validates the table on random members of the space. The plot and the record are rewritten after
 * every timing (complete: false) and once more at the end; a stop keeps the last ones and throws
 * an InterruptedError naming them.
 */
export function runLatencyValidation(request: ValidationRunRequest): Promise<ValidationRunResult> {
  return withRunLock(request.dir, 'nas latency validate', () => latencyValidation(request));
}

async function latencyValidation(request: ValidationRunRequest): Promise<ValidationRunResult> {
  const { table } = request;
  const gate = request.gate ?? DEFAULT_SPEED_GATE;
  const run = new ValidationRunDir(request.dir, table.name);
  const resumed = request.resume ? unfinishedValidation(run, table) : null;
  if (!resumed && !request.force) refuseToReplace(run);
  const { space, seed, samples } = resumed ?? request;
  const write = async (report: ValidationReport, complete: boolean) => {
    await run.writePlot(report);
    await run.writeRecord({ space, seed, device: table.device, tableHash: tableHash(table), requested: samples, complete, ...report });
  };
  let timed = resumed ? resumed.previous.filter((t) => t.length).length : 0;
  let report: ValidationReport;
  try {
    report = await validateTable({
      table,
      space: getSpace(space),
      samples,
      seed,
      previous: resumed?.previous,
      settings: table.profiler ?? DEFAULT_PROFILER,
      gate,
      onProgress: request.onProgress,
      onWait: request.onWait,
      signal: request.signal,
      onPartial: (partial) => {
        timed = partial.samples;
        return write(partial, false);
      },
    });
  } catch (err) {
    if (!(err instanceof InterruptedError)) throw err;
    const kept = timed ? `partial results in ${run.file('record')} and ${run.file('plot')}` : 'nothing written';
    const next = timed && request.resumeWith ? `; continue with ${request.resumeWith}` : '';
    throw new InterruptedError(`validation stopped after timing ${timed} of ${samples} models: ${kept}${next}`);
  }
  await write(report, true);
  return { summary: validationSummary(report, gate.minSpeed), report, files: { record: run.file('record'), plot: run.file('plot') } };
}
