/**
 * The `nas netadapt` job: settle what the run runs with (start.ts: a new run's settings, or a
 * resumed run's own), pick the backend, load the table and the dataset, adapt the seed with short fine-tunes in worker processes (netadapt.ts), optionally train the
 * result longer (fine-tuned from its weights, or from scratch), and write the summary. The
 * directory's files are NetAdaptRunDir's (netadapt-run.ts).
 */

import { resumeCommand } from '../common/command-line.js';
import { InputError, InterruptedError } from '../common/errors.js';
import { type Logger, silentLogger } from '../common/log.js';
import { withRunLock } from '../common/run-lock.js';
import { loadTable } from '../latency-model/predict/load-table.js';
import type { LatencyTable } from '../latency-model/predict/table-schema.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { prepareBackend } from '../trainer/backend.js';
import type { BackendName } from '../trainer/backend-names.js';
import { loadCheckpoint } from '../trainer/checkpoint.js';
import { shortFinetuneConfig, type TrainConfig, trainConfig } from '../trainer/config.js';
import { loadDataset, type TrainingData } from '../trainer/data/index.js';
import { type TrainProgress, train } from '../trainer/train.js';
import { TrainingPool } from '../trainer/training-pool.js';
import { type NetAdaptProgress, type NetAdaptResult, runNetAdapt } from './netadapt.js';
import { NetAdaptRunDir, type NetAdaptStart, type NetAdaptSummary } from './netadapt-run.js';
import { jobStart, type NetAdaptStartRequest } from './start.js';

/** What the run is asked to run with (start.ts: a resume takes the run's own), and how to run it. */
export interface NetAdaptJobRequest extends NetAdaptStartRequest {
  finetune: NetAdaptStartRequest['finetune'] & {
    /** Proposals fine-tuned at once (worker processes; a resume may change it). */
    parallel: number;
  };
  backend: BackendName | 'auto';
  outDir: string;
  onProgress?: (p: NetAdaptJobProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

/** Progress of the adaptation's steps, then of the result's final training. */
export type NetAdaptJobProgress = ({ phase: 'netadapt' } & NetAdaptProgress) | ({ phase: 'final-training' } & TrainProgress);

/** Runs a whole `nas netadapt` job and returns its summary (also in the run's summary.json). */
export function runNetAdaptJob(request: NetAdaptJobRequest): Promise<NetAdaptSummary> {
  return withRunLock(request.outDir, 'nas netadapt', () => netAdaptJob(request));
}

async function netAdaptJob(request: NetAdaptJobRequest): Promise<NetAdaptSummary> {
  const log = request.log ?? silentLogger;
  const run = new NetAdaptRunDir(request.outDir);
  const start = jobStart(request, run, log);
  await prepareBackend(request.backend);
  const table = loadTable(start.table);
  const dataset = loadDataset(start.dataset, start.seed.input.resolution);
  checkSeedClasses(start.seed, start.seedCheckpoint, dataset, start.dataset);
  const finetune = shortFinetuneConfig(start.finetune, 'training options');
  const started = Date.now();
  const result = await adapt(request, start, table, dataset, finetune, log);
  const final = await trainFinal(request, start, run, result, dataset, log);
  const summary: NetAdaptSummary = {
    steps: result.history.steps.length,
    seedLatencyMs: result.history.seedLatencyMs,
    finalLatencyMs: result.finalLatencyMs,
    seedAccuracy: result.history.seedAccuracy,
    finalAccuracy: final.accuracy,
    spec: run.file('final'),
  };
  await run.writeSummary({
    ...summary,
    targetMs: result.history.targetMs,
    finalCheckpoint: final.checkpoint,
    testTop1: final.testTop1,
    metric: start.settings.metric,
    seed: start.finetune.seed,
    wallSeconds: (result.history.wallSeconds ?? 0) + final.wallSeconds,
    sessionWallSeconds: (Date.now() - started) / 1000,
  });
  log.info({ ...summary, finalCheckpoint: final.checkpoint }, 'netadapt finished');
  return summary;
}

/** A seed whose classifier does not fit the dataset would fail every proposal's fine-tune: refused before any work. */
function checkSeedClasses(seed: ArchSpec, checkpoint: string, dataset: TrainingData, source: string): void {
  const classes = dataset.classNames.length;
  if (seed.classes !== classes)
    throw new InputError(
      `${checkpoint}: the seed classifies ${seed.classes} classes and ${source} has ${classes}: give --dataset the dataset the seed was trained on`,
    );
}

/** The adaptation, its proposals fine-tuned in a pool of worker processes. */
async function adapt(
  request: NetAdaptJobRequest,
  start: NetAdaptStart,
  table: LatencyTable,
  dataset: TrainingData,
  finetune: TrainConfig,
  log: Logger,
): Promise<NetAdaptResult> {
  const pool = new TrainingPool({
    dataset: start.dataset,
    resolution: start.seed.input.resolution,
    config: finetune,
    parallel: request.finetune.parallel,
    backend: request.backend,
    log,
  });
  try {
    return await runNetAdapt({
      seed: start.seed,
      seedCheckpoint: start.seedCheckpoint,
      table,
      tableFile: start.table,
      settings: start.settings,
      dataset,
      finetune,
      evaluator: pool,
      outDir: request.outDir,
      resume: request.resume,
      start,
      log,
      signal: request.signal,
      onProgress: (p) => request.onProgress?.({ phase: 'netadapt', ...p }),
    });
  } finally {
    await pool.close();
  }
}

/**
 * The result's long training when asked for (its accuracy and checkpoint replace the short
 * fine-tune's, and it is scored on the test split); otherwise the adaptation's result. An abort
 * saves it at the current step; a resumed job continues it from there.
 */
async function trainFinal(
  request: NetAdaptJobRequest,
  { final, finetune }: NetAdaptStart,
  run: NetAdaptRunDir,
  result: NetAdaptResult,
  dataset: TrainingData,
  log: Logger,
): Promise<{ accuracy: number; checkpoint: string; testTop1: number | null; wallSeconds: number }> {
  if (!(final.epochs > 0)) return { accuracy: result.finalAccuracy, checkpoint: result.finalCheckpoint, testTop1: null, wallSeconds: 0 };
  const finalRun = run.finalTraining();
  const resume = Boolean(request.resume) && finalRun.hasCheckpoint();
  const inherited = final.fromScratch || resume ? undefined : loadCheckpoint(result.finalCheckpoint, (d) => d).weights;
  const long = await train({
    spec: result.final,
    dataset,
    config: trainConfig({
      epochs: final.epochs,
      seed: finetune.seed,
      validationSamples: finetune.validationSamples,
      ...(final.trainSamples === undefined ? {} : { trainSamples: final.trainSamples }),
    }),
    outDir: finalRun.dir,
    resume,
    // Not the training's own advice (nas train --resume in final/), which would continue it without NetAdapt's summary.
    resumeWith: resumeCommand('netadapt', run.dir),
    initialWeights: inherited,
    evaluateTest: true,
    log,
    signal: request.signal,
    onProgress: (p) => request.onProgress?.({ phase: 'final-training', ...p }),
  }).catch((err: unknown) => {
    throw err instanceof InterruptedError ? new InterruptedError(`NetAdapt's final training ${err.message}`) : err;
  });
  return { accuracy: long.valTop1, checkpoint: long.checkpoint!, testTop1: long.top1, wallSeconds: long.wallSeconds };
}
