/**
 * The pipeline run directory, owned here and nowhere else: `pipeline.json` (the experiment, each
 * stage's state, directory, inputs by content hash, outputs, wall time and reproducing command;
 * validated on read, written atomically), `experiment.json` (the experiment the stages' commands
 * name) and one subdirectory per stage, each an ordinary run directory: `search/` (a search run),
 * `train/` (a training run), `netadapt/` (a NetAdapt run, its result's final training in
 * `netadapt/final/`). The test-split evaluation writes no directory of its own; a skipped stage
 * records none. The closing report (pipeline-report.ts) is `report.json`, `report.md`, `report.svg`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { shellArg } from '../common/command-line.js';
import { InputError } from '../common/errors.js';
import { readJsonFile, writeJsonAtomic } from '../common/json-io.js';
import { refuseOtherRunKind } from '../common/run-kind.js';
import { isLockFile } from '../common/run-lock.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import { type Experiment, ExperimentSchema, experimentHash } from '../controller/experiment.js';

export const PIPELINE_RUN_FILES = {
  record: 'pipeline.json',
  experiment: 'experiment.json',
  /** The closing report (pipeline-report.ts). */
  report: 'report.json',
  reportMarkdown: 'report.md',
  reportPlot: 'report.svg',
} as const;

/** The stages in the order they run, each with its subdirectory (null: none). */
export const PIPELINE_STAGES = ['search', 'train', 'netadapt', 'evaluate'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];
const STAGE_DIRS: Record<PipelineStage, string | null> = { search: 'search', train: 'train', netadapt: 'netadapt', evaluate: null };

const StageRecordSchema = z.strictObject({
  state: z.enum(['pending', 'running', 'done', 'skipped']),
  /** Why a stage was skipped. */
  reason: z.string().optional(),
  /** The stage's run directory, relative to the pipeline's. */
  dir: z.string().nullable(),
  /** The `nas ...` command that reproduces the stage (null before it started). */
  command: z.string().nullable(),
  /** sha256 of each input file (or checkpoint directory), by path relative to the pipeline's directory. */
  inputs: z.record(z.string(), z.string()),
  outputs: z.record(z.string(), z.unknown()),
  /** Wall time spent in the stage, over every session that worked on it. */
  wallSeconds: z.number().min(0),
});
export type StageRecord = z.infer<typeof StageRecordSchema>;

const PipelineRecordSchema = z.strictObject({
  schemaVersion: z.literal(1),
  kind: z.literal('pipeline-run'),
  tool: z.string(),
  command: z.string(),
  experimentHash: z.string(),
  experiment: ExperimentSchema,
  createdAt: z.string(),
  /**
   * Each `--resume --budget N` that changed the search's budget (the experiment holds the latest),
   * with the directory the later stages' runs of a finished search were moved to (null: none had started).
   */
  budgetChanges: z
    .array(
      z.strictObject({
        from: z.int(),
        to: z.int(),
        command: z.string(),
        at: z.string(),
        superseded: z.string().nullable(),
        /** The later stages' records as they were when their runs were moved aside. */
        supersededStages: z.strictObject({ train: StageRecordSchema, netadapt: StageRecordSchema, evaluate: StageRecordSchema }).optional(),
        /** Set when the extended search kept its best architecture, and the stages' runs were moved back instead of run again. */
        reinstated: z.boolean().optional(),
      }),
    )
    .optional(),
  stages: z.strictObject({
    search: StageRecordSchema,
    train: StageRecordSchema,
    netadapt: StageRecordSchema,
    evaluate: StageRecordSchema,
  }),
});
export type PipelineRecord = z.infer<typeof PipelineRecordSchema>;

export class PipelineRunDir {
  constructor(readonly dir: string) {}

  file(name: keyof typeof PIPELINE_RUN_FILES): string {
    return path.join(this.dir, PIPELINE_RUN_FILES[name]);
  }

  /** A stage's run directory (the evaluation has none). */
  stageDir(stage: PipelineStage): string {
    const dir = STAGE_DIRS[stage];
    if (dir === null) throw new Error(`the ${stage} stage has no directory`);
    return path.join(this.dir, dir);
  }

  isRun(): boolean {
    return existsSync(this.file('record'));
  }

  /** The record, validated; a directory without one is refused, naming what it holds instead if it holds another kind of run. */
  read(): PipelineRecord {
    const file = this.file('record');
    if (!existsSync(file)) {
      refuseOtherRunKind(this.dir, 'pipeline');
      throw new InputError(`${this.dir}: no ${PIPELINE_RUN_FILES.record}, not a pipeline run; start one with --out`);
    }
    return parseWith(PipelineRecordSchema, readJsonFile(file), file);
  }

  write(record: PipelineRecord): Promise<void> {
    return writeJsonAtomic(this.file('record'), record);
  }

  /** Starts a pipeline: its experiment file and a record with every stage pending. */
  async create(experiment: Experiment, command: string): Promise<PipelineRecord> {
    refuseOtherRunKind(this.dir, 'pipeline');
    if (this.isRun())
      throw new InputError(`${this.dir} already holds a pipeline: continue it with --resume ${shellArg(this.dir)} or choose a new --out`);
    const pending = (stage: PipelineStage) => PipelineRunDir.pendingStage(stage);
    const record: PipelineRecord = {
      schemaVersion: 1,
      kind: 'pipeline-run',
      tool: TOOL_NAME,
      command,
      experimentHash: experimentHash(experiment),
      experiment,
      createdAt: new Date().toISOString(),
      stages: { search: pending('search'), train: pending('train'), netadapt: pending('netadapt'), evaluate: pending('evaluate') },
    };
    await writeJsonAtomic(this.file('experiment'), experiment);
    await this.write(record);
    return record;
  }

  /**
   * Moves the run directories of the given stages and the report out of the way, into a new
   * `superseded-<k>/` (a search extended after they ran makes them stale); returns its name, or
   * null when there was nothing to move.
   */
  async supersede(stages: readonly PipelineStage[]): Promise<string | null> {
    const report = [PIPELINE_RUN_FILES.report, PIPELINE_RUN_FILES.reportMarkdown, PIPELINE_RUN_FILES.reportPlot];
    const names = [...stages.flatMap((stage) => STAGE_DIRS[stage] ?? []), ...report].filter((name) =>
      existsSync(path.join(this.dir, name)),
    );
    if (!names.length) return null;
    let k = 1;
    while (existsSync(path.join(this.dir, `superseded-${k}`))) k++;
    const target = `superseded-${k}`;
    await mkdir(path.join(this.dir, target));
    for (const name of names) await rename(path.join(this.dir, name), path.join(this.dir, target, name));
    return target;
  }

  /**
   * Moves the given stages' run directories back from `superseded-<k>/` (the report stays there:
   * it is written again); a directory already back in place (a move interrupted before) is kept.
   */
  async reinstate(superseded: string, stages: readonly PipelineStage[]): Promise<void> {
    for (const name of stages.flatMap((stage) => STAGE_DIRS[stage] ?? [])) {
      const from = path.join(this.dir, superseded, name);
      if (existsSync(from) && !existsSync(path.join(this.dir, name))) await rename(from, path.join(this.dir, name));
    }
  }

  /** Whether every input a stage recorded still has the content hash it recorded. */
  inputsUnchanged(stage: StageRecord): boolean {
    return this.changedInput(stage) === null;
  }

  /** The first input of a stage whose content hash is not the one it recorded (`missing`: the file is gone), or null. */
  private changedInput(stage: StageRecord): { file: string; recorded: string; now: string } | null {
    for (const [relative, recorded] of Object.entries(stage.inputs)) {
      const file = path.join(this.dir, relative);
      const now = existsSync(file) ? contentHash(file) : 'missing';
      if (now !== recorded) return { file, recorded, now };
    }
    return null;
  }

  /** A stage as it is before it starts (its directory, if it has one, not yet written). */
  static pendingStage(stage: PipelineStage, wallSeconds = 0): StageRecord {
    return { state: 'pending', dir: STAGE_DIRS[stage], command: null, inputs: {}, outputs: {}, wallSeconds };
  }

  /** The content hash of each input, keyed by its path relative to the pipeline's directory. */
  hashInputs(files: readonly string[]): Record<string, string> {
    return Object.fromEntries(files.map((file) => [path.relative(this.dir, file), contentHash(file)]));
  }

  /** Refuses a pipeline whose recorded stage inputs changed since the stage read them (edited by hand). */
  checkInputs(record: PipelineRecord): void {
    for (const stage of PIPELINE_STAGES) {
      const changed = this.changedInput(record.stages[stage]);
      if (changed)
        throw new InputError(
          `${changed.file}: ${changed.now === 'missing' ? 'gone' : 'changed'} since the ${stage} stage read it (sha256 ${changed.recorded.slice(0, 12)}); restore it, or start a new pipeline with --out`,
        );
    }
  }
}

/** sha256 of a file, or of a directory's files (names and contents, in name order). */
export function contentHash(target: string): string {
  const hash = createHash('sha256');
  if (!statSync(target).isDirectory()) return hash.update(readFileSync(target)).digest('hex');
  for (const name of readdirSync(target).sort()) {
    if (isLockFile(name)) continue; // a run's lock is who runs it, not what it holds
    hash.update(`${name}\0${contentHash(path.join(target, name))}\0`);
  }
  return hash.digest('hex');
}
