/**
 * The training run directory, owned here and nowhere else: its file names, the `run.json` record
 * of what started the run, the checkpoint (checkpoint.ts's format: model, spec, trainer state,
 * optimizer slots) and `result.json`, each validated on read. The training loop (train.ts) reads
 * and writes its checkpoint through a TrainRunDir, and the `nas train` job (train-job.ts) writes
 * the record and the result through one. The directories the search's children and NetAdapt's
 * proposals train into are training run directories that hold only a checkpoint.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../common/errors.js';
import { readJsonFile, writeJsonAtomic } from '../common/json-io.js';
import { refuseOtherRunKind } from '../common/run-kind.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import type { ArchSpec } from '../search-space/archspec.js';
import {
  CHECKPOINT_DIR,
  type CheckpointContents,
  loadCheckpoint,
  readCheckpointHead,
  resolveCheckpointDir,
  saveCheckpoint,
} from './checkpoint.js';
import { TrainConfigSchema } from './config.js';
import type { tf } from './tf.js';

/** Every file a training run directory holds. */
export const TRAIN_RUN_FILES = {
  run: 'run.json',
  checkpoint: CHECKPOINT_DIR,
  result: 'result.json',
} as const;

export type TrainRunFile = keyof typeof TRAIN_RUN_FILES;

const EpochRecordSchema = z.object({
  epoch: z.int(),
  trainLoss: z.number(),
  trainTop1: z.number(),
  valTop1: z.number(),
  learningRate: z.number(),
  imagesPerSec: z.number(),
  seconds: z.number(),
});
export type EpochRecord = z.infer<typeof EpochRecordSchema>;

/** The checkpoint's `state.json`: where the run is, so a resume continues at the same step. */
export const TrainerStateSchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('trainer-state'),
  tool: z.string(),
  dataset: z.string(),
  config: TrainConfigSchema,
  bnMomentum: z.number(),
  /** Completed epochs, and steps completed in the current one. */
  epoch: z.int().min(0),
  stepInEpoch: z.int().min(0),
  globalStep: z.int().min(0),
  trainSeconds: z.number().min(0),
  /** Wall time of the training over every session, up to this checkpoint (absent in checkpoints before 2026-12-07). */
  wallSeconds: z.number().min(0).optional(),
  trainImages: z.int().min(0),
  history: z.array(EpochRecordSchema),
  backend: z.object({ backend: z.string(), threads: z.int() }),
  finished: z.boolean(),
});
export type TrainerState = z.infer<typeof TrainerStateSchema>;

const TrainRunRecordSchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('train-run'),
  tool: z.string(),
  command: z.string(),
  spec: z.string(),
  specHash: z.string(),
  dataset: z.string(),
  config: TrainConfigSchema,
  createdAt: z.string(),
});

/** `run.json`: what started the run (a resume keeps it; `--force` writes a new one). */
export type TrainRunRecord = z.infer<typeof TrainRunRecordSchema>;

/** What a new run's record says of it (the rest is filled in when it is written). */
export type NewTrainRunRecord = Omit<TrainRunRecord, 'schemaVersion' | 'kind' | 'tool' | 'createdAt'>;

const TrainSummarySchema = z.object({
  /** Present for segmentation, whose top1 and valTop1 are mean IoU. */
  metric: z.literal('mean IoU').optional(),
  top1: z.number().nullable(),
  /** The test images top1 was scored on (absent in results before it was recorded). */
  testImages: z.int().nullable().optional(),
  /** True when those were the first `config.testSamples` only, not the whole split. */
  partialTest: z.boolean().optional(),
  valTop1: z.number(),
  epochs: z.int(),
  imagesPerSec: z.number(),
  backend: z.string(),
  params: z.int(),
  madds: z.number(),
  checkpoint: z.string().nullable(),
});

/** What `nas train` reports of a finished run (its `--json` line, and the head of `result.json`). */
export type TrainSummary = z.infer<typeof TrainSummarySchema>;

const TrainResultRecordSchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('train-result'),
  tool: z.string(),
  command: z.string(),
  seed: z.int(),
  spec: z.string(),
  dataset: z.string(),
  config: TrainConfigSchema,
  threads: z.int(),
  /** The whole run's wall time, over every session that trained it (before 2026-12-07: the last session's). */
  wallSeconds: z.number(),
  /** The wall time of the session that finished the run (absent in results before 2026-12-07). */
  sessionWallSeconds: z.number().optional(),
  ...TrainSummarySchema.shape,
  history: z.array(EpochRecordSchema),
});

/** `result.json`: the summary of a finished run with its settings and per-epoch history. */
export type TrainResultRecord = z.infer<typeof TrainResultRecordSchema>;

export class TrainRunDir {
  constructor(readonly dir: string) {}

  file(name: TrainRunFile): string {
    return path.join(this.dir, TRAIN_RUN_FILES[name]);
  }

  /**
   * A directory holds a run once it has a checkpoint or a result. A start that failed before its
   * first checkpoint leaves at most `run.json`, which the next start replaces.
   */
  holdsRun(): boolean {
    return existsSync(this.file('checkpoint')) || existsSync(this.file('result'));
  }

  /**
   * Refuses to train into a directory that holds another kind of run or a checkpoint, or a training
   * run unless asked to continue it or to start over.
   */
  refuseExistingRun(options: { resume?: boolean | undefined; force?: boolean | undefined }): void {
    refuseOtherRunKind(this.dir, 'train');
    if (options.resume || options.force || !this.holdsRun()) return;
    throw new InputError(
      `${this.dir} already holds a training run: continue it with --resume, start over with --force, or choose a new --out`,
    );
  }

  /** The run record, validated; null for a directory without one (runs started before it existed). */
  readRecord(): TrainRunRecord | null {
    const file = this.file('run');
    if (!existsSync(file)) return null;
    return parseWith(TrainRunRecordSchema, readJsonFile(file), file);
  }

  async writeRecord(record: NewTrainRunRecord): Promise<void> {
    const full: TrainRunRecord = {
      schemaVersion: 1,
      kind: 'train-run',
      tool: TOOL_NAME,
      ...record,
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(this.file('run'), full);
  }

  /** Whether there is a checkpoint to resume from. */
  hasCheckpoint(): boolean {
    try {
      resolveCheckpointDir(this.dir);
      return true;
    } catch (err) {
      if (err instanceof InputError) return false;
      throw err;
    }
  }

  /** The checkpoint with its trainer state validated (the run directory's, or its `.old` one after a crash mid-save). */
  readCheckpoint(): CheckpointContents<TrainerState> & { dir: string } {
    return loadCheckpoint(this.dir, (data, file) => parseWith(TrainerStateSchema, data, file));
  }

  /** The checkpoint's spec and trainer state, without its weights (what a resume continues, and with which settings). */
  readCheckpointHead(): { dir: string; spec: ArchSpec; state: TrainerState } {
    return readCheckpointHead(this.dir, (data, file) => parseWith(TrainerStateSchema, data, file));
  }

  /** Replaces the checkpoint atomically; returns its directory. */
  writeCheckpoint(model: tf.LayersModel, spec: ArchSpec, state: TrainerState, slots: readonly Float32Array[]): Promise<string> {
    return saveCheckpoint(this.dir, model, spec, state, slots);
  }

  /** The result of the finished run, validated. */
  readResult(): TrainResultRecord {
    const file = this.file('result');
    if (!existsSync(file)) throw new InputError(`${this.dir}: no ${TRAIN_RUN_FILES.result} (the run has not finished)`);
    return parseWith(TrainResultRecordSchema, readJsonFile(file), file);
  }

  async writeResult(record: Omit<TrainResultRecord, 'schemaVersion' | 'kind' | 'tool'>): Promise<void> {
    const full: TrainResultRecord = { schemaVersion: 1, kind: 'train-result', tool: TOOL_NAME, ...record };
    await writeJsonAtomic(this.file('result'), full);
  }
}
