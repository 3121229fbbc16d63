/**
 * The NetAdapt run directory, owned here and nowhere else: its file names, `history.json` (the
 * run's record and durable state: the seed, the target, every finished step), the proposals'
 * directories and results, the outputs (`final.json`, `netadapt.svg`), the final training's run
 * directory and `summary.json`, each validated on read. The adaptation loop (netadapt.ts) and the
 * `nas netadapt` job (netadapt-job.ts) reach every file through a NetAdaptRunDir.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../common/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../common/json-io.js';
import { refuseOtherRunKind } from '../common/run-kind.js';
import { parseWith } from '../common/validate.js';
import { ORACLE_MISSING } from '../latency-model/predict/oracle-missing.js';
import { type TableRef, TableRefSchema, tableChange, tableHash } from '../latency-model/predict/table-ref.js';
import { EntrySchema, type LatencyTable } from '../latency-model/predict/table-schema.js';
import { type ArchSpec, ArchSpecSchema } from '../search-space/archspec.js';
import { canonicalDatasetSource } from '../trainer/data/source.js';
import { TrainRunDir } from '../trainer/train-run.js';

/** Every file a NetAdapt run directory holds at its top level. */
export const NETADAPT_RUN_FILES = {
  history: 'history.json',
  /** One directory per step (`steps/001`), one per proposal in it (`proposal-01`, a training run directory). */
  steps: 'steps',
  final: 'final.json',
  plot: 'netadapt.svg',
  /** The training run directory of the result's long fine-tune (`--final-epochs`). */
  finalTraining: 'final',
  summary: 'summary.json',
} as const;

export type NetAdaptRunFile = keyof typeof NETADAPT_RUN_FILES;

/** A proposal's result, in its directory beside its checkpoint. */
const PROPOSAL_FILE = 'proposal.json';

const ProposalRecordSchema = z.object({
  kind: z.enum(['expansion', 'bottleneck', 'remove-layer']),
  target: z.array(z.string()),
  description: z.string(),
  latencyMs: z.number(),
  /** Ops of the proposal not in the table, estimated or interpolated (absent in runs before it was recorded). */
  estimatedOps: z.int().min(0).optional(),
  accuracy: z.number(),
  dir: z.string(),
  error: z.string().nullable(),
});
export type ProposalRecord = z.infer<typeof ProposalRecordSchema>;

const StepRecordSchema = z.object({
  step: z.int(),
  deltaMs: z.number(),
  before: z.object({ latencyMs: z.number(), accuracy: z.number() }),
  proposals: z.array(ProposalRecordSchema),
  chosen: z.int(),
  spec: ArchSpecSchema,
  checkpoint: z.string(),
});
export type StepRecord = z.infer<typeof StepRecordSchema>;

/** The adaptation's settings (NetAdaptSettings in netadapt.ts), as a run records them. */
const NetAdaptSettingsSchema = z.object({
  targetMs: z.number().optional(),
  targetRatio: z.number().optional(),
  deltaRatio: z.number(),
  /** Per-step decay of delta (1: none; the original NetAdapt used 0.96). */
  deltaDecay: z.number(),
  metric: z.enum(['ratio', 'accuracy']),
  /** Resolution and classifier width of the deployed model whose latency counts. */
  latencyResolution: z.int(),
  latencyClasses: z.int(),
  /**
   * How ops the table lacks (the widths NetAdapt produces) are priced: measured here, estimated by
   * the table's estimator, or interpolated; `auto` (the default): measured when the table was
   * profiled here, estimated otherwise (a phone's table).
   */
  latencyMissing: z.enum(ORACLE_MISSING).optional(),
});
export type NetAdaptSettings = z.infer<typeof NetAdaptSettingsSchema>;

/**
 * What a run was started with, every setting its results depend on: a resume takes them all from
 * here (only the parallelism and the backend may change).
 */
const NetAdaptStartSchema = z.object({
  /** The seed's checkpoint directory (absolute) and its spec. */
  seedCheckpoint: z.string(),
  seed: ArchSpecSchema,
  /** The table file (absolute). */
  table: z.string(),
  settings: NetAdaptSettingsSchema,
  dataset: z.string(),
  finetune: z.object({ steps: z.number(), validationSamples: z.number(), learningRate: z.number().optional(), seed: z.number() }),
  final: z.object({ epochs: z.number(), fromScratch: z.boolean().optional(), trainSamples: z.number().optional() }),
});
export type NetAdaptStart = z.infer<typeof NetAdaptStartSchema>;

/** The adaptation settings an older history records (`settings`, before `start`), or null when they are not all there. */
export function olderHistorySettings(history: History): NetAdaptSettings | null {
  const parsed = NetAdaptSettingsSchema.safeParse(history.settings);
  return parsed.success ? parsed.data : null;
}

/** Version 2 adds `tableRef`, which version 1 histories (written before tables were labelled) lack. */
export const NETADAPT_HISTORY_VERSION = 2;

const HistorySchema = z
  .object({
    schemaVersion: z.literal([1, NETADAPT_HISTORY_VERSION]),
    kind: z.literal('netadapt-history'),
    tool: z.string(),
    seedSpec: z.string(),
    seedCheckpoint: z.string(),
    seedLatencyMs: z.number(),
    seedAccuracy: z.number(),
    targetMs: z.number(),
    settings: z.unknown(),
    /** The dataset proposals are fine-tuned and scored on (absent in runs before it was recorded). */
    dataset: z.string().optional(),
    /** The table's name. */
    table: z.string(),
    /** The table that priced the run: its file, content hash and labels (device, runtime, version). */
    tableRef: TableRefSchema.optional(),
    /** What the run was started with (absent in runs before it was recorded). */
    start: NetAdaptStartSchema.optional(),
    steps: z.array(StepRecordSchema),
    /** Latencies measured on this machine for ops the table lacked. */
    measuredEntries: z.record(z.string(), EntrySchema),
    finished: z.boolean(),
    /** The adaptation's wall time over every session, saved with each step (absent in runs before it was recorded). */
    wallSeconds: z.number().optional(),
  })
  .refine((h) => h.schemaVersion === 1 || h.tableRef !== undefined, {
    message: 'missing (a version 2 history names its table)',
    path: ['tableRef'],
  });
export type History = z.infer<typeof HistorySchema>;

const NetAdaptSummarySchema = z.object({
  steps: z.int(),
  seedLatencyMs: z.number(),
  finalLatencyMs: z.number(),
  seedAccuracy: z.number(),
  finalAccuracy: z.number(),
  /** The result's spec file (final.json). */
  spec: z.string(),
});

/** What `nas netadapt` reports of a finished run (its `--json` line, and the head of `summary.json`). */
export type NetAdaptSummary = z.infer<typeof NetAdaptSummarySchema>;

const NetAdaptSummaryRecordSchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('netadapt-summary'),
  ...NetAdaptSummarySchema.shape,
  targetMs: z.number(),
  finalCheckpoint: z.string(),
  /** Test top-1 after the final training (null without one). */
  testTop1: z.number().nullable(),
  metric: z.enum(['ratio', 'accuracy']),
  /** The training seed. */
  seed: z.int(),
  /** The run's wall time over every session: the adaptation's and the final training's. */
  wallSeconds: z.number(),
  /** The last session's (absent in runs before it was recorded). */
  sessionWallSeconds: z.number().optional(),
});

/** `summary.json`: the summary with the target, the final checkpoint and the settings that matter. */
export type NetAdaptSummaryRecord = z.infer<typeof NetAdaptSummaryRecordSchema>;

/** What a resumed run must share with the one that started: the seed (its spec hash), the pricing table and the dataset. */
export interface NetAdaptRunIdentity {
  seedHash: string;
  table: TableRef;
  /** The dataset's source name (`fashion-mnist`, `cifar10:PATH`, ...). */
  dataset: string;
}

export class NetAdaptRunDir {
  constructor(readonly dir: string) {}

  file(name: NetAdaptRunFile): string {
    return path.join(this.dir, NETADAPT_RUN_FILES[name]);
  }

  isRun(): boolean {
    return existsSync(this.file('history'));
  }

  /**
   * Opens a new run (refusing a directory that already holds one, or another kind of run) or the
   * run being resumed (refusing one of another seed or dataset, or whose table has changed): returns
   * the history to continue, or null for a new run.
   */
  open(identity: NetAdaptRunIdentity, resume: boolean): History | null {
    let history: History | null = null;
    if (resume) {
      history = this.resumable();
      this.checkSameRun(history, identity);
    } else {
      this.refuseExistingRun();
    }
    mkdirSync(this.dir, { recursive: true });
    return history;
  }

  private refuseExistingRun(): void {
    refuseOtherRunKind(this.dir, 'netadapt');
    if (this.isRun()) throw new InputError(`${this.dir} already holds a NetAdapt run: continue it with --resume or choose a new --out`);
  }

  private checkSameRun(history: History, { seedHash, table, dataset }: NetAdaptRunIdentity): void {
    if (history.seedSpec !== seedHash) throw new InputError(`${this.dir} holds a NetAdapt run of another seed; choose a new --out`);
    const changed = tableChange(history.tableRef, table);
    if (changed) throw new InputError(`${this.dir} ${changed}: restore that table to resume, or choose a new --out`);
    if (history.dataset !== undefined && canonicalDatasetSource(history.dataset) !== canonicalDatasetSource(dataset))
      throw new InputError(
        `${this.dir} fine-tunes on ${history.dataset}, not ${dataset}: resume with --dataset ${history.dataset}, or choose a new --out`,
      );
  }

  /**
   * The table with the entries this run measured for ops it lacked, when the run was priced by
   * that very table (same content hash); null otherwise. This is how `nas latency` prices the
   * run's result (final.json) as NetAdapt did.
   */
  tableWithMeasuredEntries(table: LatencyTable): { table: LatencyTable; added: number } | null {
    if (!this.isRun()) return null;
    const history = this.readHistory();
    if (history.tableRef?.hash !== tableHash(table)) return null;
    const added = Object.entries(history.measuredEntries).filter(([key]) => !(key in table.entries));
    return { table: { ...table, entries: { ...table.entries, ...Object.fromEntries(added) } }, added: added.length };
  }

  /** The history of the run to resume, refused when there is none (or the directory holds another kind of run). */
  resumable(): History {
    refuseOtherRunKind(this.dir, 'netadapt');
    if (!this.isRun()) throw new InputError(`${this.dir}: no ${NETADAPT_RUN_FILES.history} to resume from; drop --resume`);
    return this.readHistory();
  }

  readHistory(): History {
    const file = this.file('history');
    return parseWith(HistorySchema, readJsonFile(file), file);
  }

  async writeHistory(history: History): Promise<void> {
    await writeJsonAtomic(this.file('history'), history);
  }

  /** The directory proposal `index` (0-based) of step `step` (1-based) trains into. */
  proposalDir(step: number, index: number): string {
    return path.join(this.file('steps'), String(step).padStart(3, '0'), `proposal-${String(index + 1).padStart(2, '0')}`);
  }

  /** The result of a proposal trained before (a resumed step reuses it), or null. */
  readProposal(dir: string): ProposalRecord | null {
    const file = path.join(dir, PROPOSAL_FILE);
    if (!existsSync(file)) return null;
    return parseWith(ProposalRecordSchema, readJsonFile(file), file);
  }

  async writeProposal(record: ProposalRecord, spec: ArchSpec): Promise<void> {
    await writeJsonAtomic(path.join(record.dir, PROPOSAL_FILE), { ...record, spec });
  }

  async writeFinal(spec: ArchSpec): Promise<void> {
    await writeJsonAtomic(this.file('final'), spec);
  }

  async writePlot(svg: string): Promise<void> {
    await writeFileAtomic(this.file('plot'), svg);
  }

  /** Where the result's long fine-tune trains. */
  finalTraining(): TrainRunDir {
    return new TrainRunDir(this.file('finalTraining'));
  }

  readSummary(): NetAdaptSummaryRecord {
    const file = this.file('summary');
    if (!existsSync(file)) throw new InputError(`${this.dir}: no ${NETADAPT_RUN_FILES.summary} (the run has not finished)`);
    return parseWith(NetAdaptSummaryRecordSchema, readJsonFile(file), file);
  }

  async writeSummary(record: Omit<NetAdaptSummaryRecord, 'schemaVersion' | 'kind'>): Promise<void> {
    const full: NetAdaptSummaryRecord = { schemaVersion: 1, kind: 'netadapt-summary', ...record };
    await writeJsonAtomic(this.file('summary'), full);
  }
}

/**
 * The table to price a spec file with: when the file sits in a NetAdapt run directory (its
 * final.json) priced by this table, the table plus the entries the run measured, with a note
 * saying so; otherwise the table as it is.
 */
export function tableForSpecFile(table: LatencyTable, specFile: string): { table: LatencyTable; note: string | null } {
  const run = new NetAdaptRunDir(path.dirname(specFile));
  const extended = existsSync(specFile) ? run.tableWithMeasuredEntries(table) : null;
  if (!extended || extended.added === 0) return { table, note: null };
  return {
    table: extended.table,
    note: `table ${table.name} with the ${extended.added} entries NetAdapt measured for ops it lacks (${run.file('history')})`,
  };
}
