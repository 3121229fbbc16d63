/**
 * The search run directory, owned here and nowhere else: its file names, the `run.json` record
 * (validated on read), the controller checkpoint and the trial store. The search loop
 * (search.ts) and its outputs (report.ts) reach every file through a SearchRunDir.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../common/errors.js';
import { formatDifferences, type JsonDifference } from '../common/json-diff.js';
import { readJsonFile, writeJsonAtomic } from '../common/json-io.js';
import type { Logger } from '../common/log.js';
import { refuseOtherRunKind } from '../common/run-kind.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import { RunWallTime } from '../common/wall-time.js';
import { DEFAULT_TABLE, tablePath } from '../latency-model/predict/load-table.js';
import { type TableRef, TableRefSchema, tableChange } from '../latency-model/predict/table-ref.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { deploymentTable, deploymentTableFile } from '../search-space/io.js';
import { type Experiment, ExperimentSchema, experimentDifferences, experimentHash } from './experiment.js';
import type { PolicyState } from './policy.js';
import { TrialStore } from './store.js';

/** Every file a search run directory holds. */
export const SEARCH_RUN_FILES = {
  run: 'run.json',
  controller: 'controller.json',
  trials: 'trials.sqlite',
  best: 'best.json',
  pareto: 'pareto.json',
  paretoPlot: 'pareto.svg',
  rewardPlot: 'reward.svg',
  summary: 'summary.json',
} as const;

export type SearchRunFile = keyof typeof SEARCH_RUN_FILES;

/** Version 2 adds `table`, which version 1 records (written before tables were labelled) lack. */
const SEARCH_RUN_VERSION = 2;

const SearchRunRecordSchema = z
  .object({
    schemaVersion: z.literal([1, SEARCH_RUN_VERSION]),
    kind: z.literal('search-run'),
    tool: z.string(),
    command: z.string(),
    experimentHash: z.string(),
    experiment: ExperimentSchema,
    targetMs: z.number(),
    fastestMs: z.number(),
    /** The table that priced the run: its file, content hash and labels (device, runtime, version). */
    table: TableRefSchema.optional(),
    /** Hash of the searched space's definition (its file may change under a run); absent in records before 2026-12-06. */
    spaceHash: z.string().optional(),
    createdAt: z.string(),
    /** Each `--resume --budget` that changed the budget (the experiment holds the latest). */
    budgetChanges: z.array(z.object({ from: z.int(), to: z.int(), command: z.string(), at: z.string() })).optional(),
    /**
     * Wall time spent on the run over every session that worked on it, saved every minute while one
     * runs and when it ends (absent in runs recorded before 2026-12-07, and until the first save).
     */
    wallSeconds: z.number().min(0).optional(),
  })
  .refine((r) => r.schemaVersion === 1 || r.table !== undefined, {
    message: 'missing (a version 2 record names its table)',
    path: ['table'],
  });

/** What a run was searched with, beyond its experiment: the table that priced it and the space's definition hash. */
export interface RunInputs {
  table: TableRef;
  spaceHash: string;
}

/** `run.json`: what started the run, so `--resume` can check it continues the same experiment on the same table. */
export type SearchRunRecord = z.infer<typeof SearchRunRecordSchema>;

const SearchSummaryRecordSchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('search-summary'),
  tool: z.string(),
  experiment: z.string(),
  algorithm: z.string(),
  seed: z.number(),
  table: z.string(),
  targetMs: z.number(),
  fastestMs: z.number(),
  trials: z.int(),
  /** Trials trained (not answered from an earlier trial of the same architecture). */
  trained: z.int(),
  errors: z.int(),
  paretoFront: z.int(),
  /** The chosen architecture; `trial` is null when it was not a trial (a supernet run's ranked candidate). */
  best: z
    .object({ trial: z.int().nullable(), accuracy: z.number(), latencyMs: z.number(), reward: z.number(), spec: z.string() })
    .nullable(),
  runDir: z.string(),
  /** The whole run's wall time, over every session that worked on it (before 2026-12-07: the last session's). */
  wallSeconds: z.number(),
  /** The wall time of the session that wrote the summary (absent in summaries before 2026-12-07). */
  sessionWallSeconds: z.number().optional(),
});

/** `summary.json`: a finished (or extended) run's outcome. Evaluators add fields of their own (a supernet run's candidates), kept on read. */
export type SearchSummaryRecord = z.infer<typeof SearchSummaryRecordSchema>;

/**
 * The table a spec's provenance says priced it (provenance.deployment.table), as a file: the one the
 * provenance names (`tableFile`) while it holds that table, else the one the search run holding `specFile`
 * recorded (its best.json, or the spec in best-weights/checkpoint/: specs written before tableFile
 * was), else that name in tables/; null when none is recorded or it is the embedded table. A
 * recorded table that cannot be found is refused: another table (the embedded one lacks a phone's
 * ops) would not price the spec as its search did.
 */
export function recordedTableFile(spec: ArchSpec, specFile: string | null): { name: string; file: string } | null {
  const name = deploymentTable(spec);
  if (!name || name === DEFAULT_TABLE) return null;
  const recorded = deploymentTableFile(spec);
  // The file recorded still holding that table (by name: a file since replaced by another table is passed over).
  const named = recorded && existsSync(recorded) && (readJsonFile(recorded) as { name?: unknown }).name === name ? recorded : null;
  const file = named ?? (specFile ? searchRunTableFile(specFile, name) : null) ?? tablePath(name);
  if (!existsSync(file))
    throw new InputError(
      `${spec.name} was priced on table ${name} (its provenance.deployment.table), which is not at ${file}: give that table with --table FILE (or another table to price it on)`,
    );
  return { name, file };
}

/** The file of table `name` as the search run holding `specFile` (up to three folders above it) recorded it, if it still exists. */
function searchRunTableFile(specFile: string, name: string): string | null {
  let dir = path.dirname(path.resolve(specFile));
  for (let up = 0; up < 3; up++, dir = path.dirname(dir)) {
    const run = new SearchRunDir(dir);
    // Other runs (a training, NetAdapt) keep a run.json too.
    if (!run.isRun() || (readJsonFile(run.file('run')) as { kind?: unknown }).kind !== 'search-run') continue;
    const table = run.readRecord().table;
    return table?.name === name && table.file && existsSync(table.file) ? table.file : null;
  }
  return null;
}

interface ControllerCheckpoint {
  schemaVersion: 1;
  kind: 'controller-checkpoint';
  /** Batches whose update is in the state. */
  batches: number;
  state: PolicyState;
}

/** The `nas search` options that set experiment fields: a difference is named by both. */
const FLAG_OF_FIELD: Record<string, string> = { '$.seed': '--seed', '$.algorithm': '--algorithm', '$.latency.table': '--table' };

function withFlag(difference: JsonDifference): JsonDifference {
  const flag = FLAG_OF_FIELD[difference.path];
  return flag ? { ...difference, path: `${difference.path} (${flag})` } : difference;
}

export class SearchRunDir {
  constructor(readonly dir: string) {}

  file(name: SearchRunFile): string {
    return path.join(this.dir, SEARCH_RUN_FILES[name]);
  }

  isRun(): boolean {
    return existsSync(this.file('run'));
  }

  /** The run record, validated; a directory without one, or holding another kind of run, is not a search run. */
  readRecord(): SearchRunRecord {
    refuseOtherRunKind(this.dir, 'search');
    const file = this.file('run');
    if (!existsSync(file))
      throw new InputError(`${this.dir}: not a search run directory (no ${SEARCH_RUN_FILES.run}): give a directory \`nas search\` wrote`);
    return parseWith(SearchRunRecordSchema, readJsonFile(file), file);
  }

  /** The run's summary, validated; null until the run has written its outputs. */
  readSummary(): SearchSummaryRecord | null {
    const file = this.file('summary');
    return existsSync(file) ? parseWith(SearchSummaryRecordSchema.loose(), readJsonFile(file), file) : null;
  }

  /** Writes summary.json: the record, and `extra` fields an evaluator adds. */
  async writeSummary(
    record: Omit<SearchSummaryRecord, 'schemaVersion' | 'kind' | 'tool'>,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const full: SearchSummaryRecord = { schemaVersion: 1, kind: 'search-summary', tool: TOOL_NAME, ...record };
    await writeJsonAtomic(this.file('summary'), { ...extra, ...full });
  }

  async writeRecord(
    record: Omit<SearchRunRecord, 'schemaVersion' | 'kind' | 'tool' | 'experimentHash' | 'createdAt' | 'table' | 'spaceHash'> & RunInputs,
  ): Promise<void> {
    const full: SearchRunRecord = {
      schemaVersion: SEARCH_RUN_VERSION,
      kind: 'search-run',
      tool: TOOL_NAME,
      command: record.command,
      experimentHash: experimentHash(record.experiment),
      experiment: record.experiment,
      targetMs: record.targetMs,
      fastestMs: record.fastestMs,
      table: record.table,
      spaceHash: record.spaceHash,
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(this.file('run'), full);
  }

  /**
   * Records the budget of a resumed run in run.json, so a later plain `--resume` continues to it;
   * refuses one below the trials already done.
   */
  async recordBudget(budget: number, trialsDone: number, command: string): Promise<void> {
    const record = this.readRecord();
    const recorded = record.experiment.budget;
    if (budget === recorded) return;
    if (budget < trialsDone)
      throw new InputError(
        `--budget ${budget} is below the ${trialsDone} trials already done in ${this.dir}: give --budget ${trialsDone} or more`,
      );
    const change = { from: recorded, to: budget, command, at: new Date().toISOString() };
    await writeJsonAtomic(this.file('run'), {
      ...record,
      experiment: { ...record.experiment, budget },
      budgetChanges: [...(record.budgetChanges ?? []), change],
    });
  }

  /**
   * The run's wall time from now on: what its record says earlier sessions spent, plus this
   * session's, saved in the record while it runs and when it stops.
   */
  startWallTime(log: Logger): RunWallTime {
    const record = (seconds: number) => this.recordWallTime(seconds);
    return new RunWallTime(this.readRecord().wallSeconds ?? 0, record, log);
  }

  private async recordWallTime(wallSeconds: number): Promise<void> {
    await writeJsonAtomic(this.file('run'), { ...this.readRecord(), wallSeconds });
  }

  /**
   * Opens the trial store of a new run (refusing a directory that already holds one, or another kind
   * of run) or of the run being resumed (refusing one that belongs to another experiment, or whose
   * table or space file has changed).
   */
  open(experiment: Experiment, resume: boolean, { table, spaceHash }: RunInputs): TrialStore {
    refuseOtherRunKind(this.dir, 'search');
    if (resume) {
      if (!this.isRun())
        throw new InputError(
          `${this.dir}: not a search run directory (no ${SEARCH_RUN_FILES.run}); drop --resume to start a new run there`,
        );
      const record = this.readRecord();
      // Compared field by field, not by the recorded hash: runs recorded before `parallel` left the
      // experiment's identity hashed it in.
      const differences = experimentDifferences(record.experiment, experiment).map(withFlag);
      if (differences.length) {
        throw new InputError(
          `${this.dir} ran another experiment: ${formatDifferences(differences)} (the run's value, then the one given); resume without the options or experiment file that change them, or choose a new --out`,
        );
      }
      const changed = tableChange(record.table, table);
      if (changed) throw new InputError(`${this.dir} ${changed}: restore that table to resume, or start a new run`);
      if (record.spaceHash && record.spaceHash !== spaceHash) {
        throw new InputError(
          `${this.dir} searched space ${experiment.space} with definition hash ${record.spaceHash}; it now has hash ${spaceHash} (its file changed): restore it to resume, or start a new run`,
        );
      }
    } else if (this.isRun()) {
      throw new InputError(`${this.dir} already holds a search run: continue it with --resume or choose a new --out`);
    }
    mkdirSync(this.dir, { recursive: true });
    return this.trialStore();
  }

  /** The run's trial store, for reading a run (or writing to one already opened with `open`). */
  trialStore(): TrialStore {
    return new TrialStore(this.file('trials'));
  }

  /** The controller state after the last finished batch, or null before the first update. */
  readControllerCheckpoint(): { batches: number; state: PolicyState } | null {
    const file = this.file('controller');
    if (!existsSync(file)) return null;
    const saved = readJsonFile(file) as Partial<ControllerCheckpoint>;
    if (saved.kind !== 'controller-checkpoint' || saved.schemaVersion !== 1 || typeof saved.batches !== 'number' || !saved.state) {
      throw new InputError(`${file}: not a controller checkpoint of schema version 1`);
    }
    return { batches: saved.batches, state: saved.state };
  }

  async writeControllerCheckpoint(batches: number, state: PolicyState): Promise<void> {
    const checkpoint: ControllerCheckpoint = { schemaVersion: 1, kind: 'controller-checkpoint', batches, state };
    await writeJsonAtomic(this.file('controller'), checkpoint);
  }
}
