/**
 * The `nas netadapt` job: check the target, take the seed spec (seed.ts), pick the backend, load the table and the dataset,
 * adapt the seed with short fine-tunes in worker processes (netadapt.ts), optionally train the
 * result longer (fine-tuned from its weights, or from scratch), and write the summary. The
 * directory's files are NetAdaptRunDir's (netadapt-run.ts).
 */

import path from 'node:path';
import { InputError, InterruptedError } from '../common/errors.js';
import { type Logger, silentLogger } from '../common/log.js';
import { withRunLock } from '../common/run-lock.js';
import { loadTable, tablePath } from '../latency-model/predict/load-table.js';
import type { LatencyTable } from '../latency-model/predict/table-schema.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { deploymentInput } from '../search-space/io.js';
import { prepareBackend } from '../trainer/backend.js';
import type { BackendName } from '../trainer/backend-names.js';
import { loadCheckpoint, readCheckpointDataset } from '../trainer/checkpoint.js';
import { shortFinetuneConfig, type TrainConfig, trainConfig } from '../trainer/config.js';
import { canonicalDatasetSource, loadDataset, type TrainingData } from '../trainer/data/index.js';
import { type TrainProgress, train } from '../trainer/train.js';
import { TrainingPool } from '../trainer/training-pool.js';
import { type NetAdaptProgress, type NetAdaptResult, type NetAdaptSettings, resumeCommand, runNetAdapt } from './netadapt.js';
import { NetAdaptRunDir, type NetAdaptSummary } from './netadapt-run.js';
import { seedSpec } from './seed.js';

export interface NetAdaptJobRequest {
  /** The seed's trained run or checkpoint directory, and the seed spec (absent: the one the checkpoint holds; see seed.ts). */
  seedCheckpoint: string;
  seed?: ArchSpec | undefined;
  /** A latency table file or name (default: the embedded one). */
  table?: string | undefined;
  /**
   * Exactly one of targetMs and targetRatio. The deployed input whose latency counts defaults to
   * the seed's (provenance.deployment: a search's find at its proxy resolution), else 224 px, 1000 classes.
   */
  settings: Omit<NetAdaptSettings, 'latencyResolution' | 'latencyClasses'> &
    Partial<Pick<NetAdaptSettings, 'latencyResolution' | 'latencyClasses'>>;
  /** The dataset proposals are fine-tuned and scored on (absent: the one the seed checkpoint trained on). */
  dataset?: string | undefined;
  finetune: {
    /** Training steps (batches of 32) of each proposal's fine-tune. */
    steps: number;
    /** Validation images scoring each proposal. */
    validationSamples: number;
    /** Default: 0.01 (SGD). */
    learningRate?: number | undefined;
    seed: number;
    /** Proposals fine-tuned at once (worker processes). */
    parallel: number;
  };
  /** The result's long training: epochs on the full training split (0: none), from scratch or from its weights. */
  final: {
    epochs: number;
    fromScratch?: boolean | undefined /** The first N training images (absent: all). */;
    trainSamples?: number | undefined;
  };
  backend: BackendName | 'auto';
  outDir: string;
  resume?: boolean | undefined;
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
  checkTarget(request.settings);
  const log = request.log ?? silentLogger;
  const seed = seedSpec(request.seed, request.seedCheckpoint, log);
  const settings = deployedAt(request.settings, seed, log);
  const run = new NetAdaptRunDir(request.outDir);
  await prepareBackend(request.backend);
  const table = loadTable(request.table);
  const source = datasetSource(request, run, log);
  const dataset = loadDataset(source, seed.input.resolution);
  checkSeedClasses(seed, request.seedCheckpoint, dataset, source);
  const finetune = finetuneConfig(request);
  const started = Date.now();
  const result = await adapt({ ...request, settings, seed, dataset: source }, table, dataset, finetune, log);
  const final = await trainFinal(request, run, result, dataset, log);
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
    metric: request.settings.metric,
    seed: request.finetune.seed,
    wallSeconds: (Date.now() - started) / 1000,
  });
  log.info({ ...summary, finalCheckpoint: final.checkpoint }, 'netadapt finished');
  return summary;
}

/** The settings with the deployed input whose latency counts: as given, else the seed's deployment input, else 224 px and 1000 classes. */
function deployedAt(given: NetAdaptJobRequest['settings'], seed: ArchSpec, log: Logger): NetAdaptSettings {
  const deployment = deploymentInput(seed);
  const settings = {
    ...given,
    latencyResolution: given.latencyResolution ?? deployment?.resolution ?? 224,
    latencyClasses: given.latencyClasses ?? deployment?.classes ?? 1000,
  };
  if (deployment && (given.latencyResolution === undefined || given.latencyClasses === undefined))
    log.info(
      { resolution: settings.latencyResolution, classes: settings.latencyClasses },
      `latency counts the deployed model at ${settings.latencyResolution}x${settings.latencyResolution}, ${settings.latencyClasses} classes (the seed's provenance.deployment unless --latency-resolution/--latency-classes)`,
    );
  return settings;
}

function checkTarget(settings: NetAdaptJobRequest['settings']): void {
  if ((settings.targetMs === undefined) === (settings.targetRatio === undefined))
    throw new InputError('give exactly one of --target-ms and --target-ratio');
  if (settings.targetRatio !== undefined && !(settings.targetRatio > 0 && settings.targetRatio < 1))
    throw new InputError(`--target-ratio must be between 0 and 1, got ${settings.targetRatio}`);
}

/**
 * The dataset to fine-tune on: the one given, else the one a resumed run started with, else the
 * one the seed checkpoint trained on (Fashion-MNIST when it does not say).
 */
function datasetSource(request: NetAdaptJobRequest, run: NetAdaptRunDir, log: Logger): string {
  if (request.dataset) return canonicalDatasetSource(request.dataset);
  const started = request.resume && run.isRun() ? run.readHistory().dataset : undefined;
  if (started) {
    log.info({ dataset: started }, `proposals are fine-tuned on ${started}, as when the run started`);
    return started;
  }
  const trained = readCheckpointDataset(request.seedCheckpoint);
  const source = trained ? canonicalDatasetSource(trained) : 'fashion-mnist';
  log.info(
    { dataset: source },
    trained
      ? `proposals are fine-tuned on ${source}, the seed checkpoint's dataset`
      : `the seed checkpoint names no dataset: proposals are fine-tuned on ${source} (--dataset to choose)`,
  );
  return source;
}

/** A seed whose classifier does not fit the dataset would fail every proposal's fine-tune: refused before any work. */
function checkSeedClasses(seed: ArchSpec, checkpoint: string, dataset: TrainingData, source: string): void {
  const classes = dataset.classNames.length;
  if (seed.classes !== classes)
    throw new InputError(
      `${checkpoint}: the seed classifies ${seed.classes} classes and ${source} has ${classes}: give --dataset the dataset the seed was trained on`,
    );
}

/** Each proposal's short fine-tune. */
function finetuneConfig(request: NetAdaptJobRequest): TrainConfig {
  return shortFinetuneConfig(request.finetune, 'training options');
}

/** The adaptation, its proposals fine-tuned in a pool of worker processes. */
async function adapt(
  request: NetAdaptJobRequest & { settings: NetAdaptSettings; seed: ArchSpec; dataset: string },
  table: LatencyTable,
  dataset: TrainingData,
  finetune: TrainConfig,
  log: Logger,
): Promise<NetAdaptResult> {
  const pool = new TrainingPool({
    dataset: request.dataset,
    resolution: request.seed.input.resolution,
    config: finetune,
    parallel: request.finetune.parallel,
    backend: request.backend,
    log,
  });
  try {
    return await runNetAdapt({
      seed: request.seed,
      seedCheckpoint: request.seedCheckpoint,
      table,
      tableFile: path.resolve(tablePath(request.table)),
      settings: request.settings,
      dataset,
      finetune,
      evaluator: pool,
      outDir: request.outDir,
      resume: request.resume,
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
  run: NetAdaptRunDir,
  result: NetAdaptResult,
  dataset: TrainingData,
  log: Logger,
): Promise<{ accuracy: number; checkpoint: string; testTop1: number | null }> {
  const { final, finetune } = request;
  if (!(final.epochs > 0)) return { accuracy: result.finalAccuracy, checkpoint: result.finalCheckpoint, testTop1: null };
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
    initialWeights: inherited,
    evaluateTest: true,
    log,
    signal: request.signal,
    onProgress: (p) => request.onProgress?.({ phase: 'final-training', ...p }),
  }).catch((err: unknown) => {
    // The training's own advice (nas train --resume in final/) would continue it without NetAdapt's summary.
    if (err instanceof InterruptedError)
      throw new InterruptedError(
        `NetAdapt's final training ${err.message.replace(/; continue with .*$/, '')}; continue with ${resumeCommand(run.dir)}`,
      );
    throw err;
  });
  return { accuracy: long.valTop1, checkpoint: long.checkpoint!, testTop1: long.top1 };
}
