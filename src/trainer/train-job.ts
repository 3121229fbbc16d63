/**
 * The `nas train` job: check the run directory, pick the backend, settle the spec's input size,
 * task and classes against the dataset, train (or continue) it, recording a new run once its setup
 * passed, and write its result. The directory's files are TrainRunDir's (train-run.ts).
 */
import path from 'node:path';
import { resumeCommand, shellArg } from '../common/command-line.js';
import { InputError, InterruptedError, NasError } from '../common/errors.js';
import { countOf } from '../common/format.js';
import { type Logger, silentLogger } from '../common/log.js';
import { withRunLock } from '../common/run-lock.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { withInput } from '../search-space/io.js';
import { specHash } from '../search-space/spec-hash.js';
import { prepareBackend } from './backend.js';
import type { BackendName } from './backend-names.js';
import { loadCheckpoint, type NamedWeight, SPEC_JSON } from './checkpoint.js';
import { type TrainConfig, trainConfig } from './config.js';
import { loadDataset, type TrainingData } from './data/index.js';
import { sourceOfDatasetName } from './data/source.js';
import { type TrainProgress, train } from './train.js';
import { type TrainerState, TrainRunDir, type TrainSummary } from './train-run.js';

export interface TrainJobRequest {
  /**
   * The spec to train (with the resolution the user asked for already applied); absent on `resume`,
   * the run's own (its checkpoint's spec, trained on the dataset its record names unless `dataset`).
   */
  spec?: ArchSpec | undefined;
  /** Where the spec came from (a file or a zoo name), for messages. */
  source?: string | undefined;
  /** A dataset form of DATASET_FORMS (default: fashion-mnist, or fashion-mosaic for a segmentation spec). */
  dataset?: string | undefined;
  /** The task the user expects the spec to have (checked against its head). */
  task?: 'classification' | 'segmentation' | undefined;
  /** The input resolution the user asked for; without one, small-image datasets train at their own size. */
  resolution?: number | undefined;
  /** Classifier width (default: the dataset's class count). */
  classes?: number | undefined;
  /** Training settings over the defaults (validated here). */
  config: Partial<TrainConfig>;
  outDir: string;
  /** Continue the run in outDir. */
  resume?: boolean | undefined;
  /** A checkpoint directory of the same architecture whose weights the training starts from (fine-tuning). */
  initFrom?: string | undefined;
  /** Start over in an outDir that already holds a run. */
  force?: boolean | undefined;
  backend: BackendName | 'auto';
  /** The command line, for the run record and the result. */
  command: string;
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

/**
 * Runs a `nas train` job to the end and returns its summary (also in the run's result.json). A run
 * already in outDir is refused unless `resume` or `force`; an abort saves a checkpoint at the
 * current step and throws InterruptedError.
 */
export function runTrainJob(request: TrainJobRequest): Promise<TrainSummary> {
  return withRunLock(request.outDir, 'nas train', () => trainJob(request));
}

async function trainJob(given: TrainJobRequest): Promise<TrainSummary> {
  const log = given.log ?? silentLogger;
  const run = new TrainRunDir(given.outDir);
  run.refuseExistingRun(given);
  const resumed = given.resume && run.hasCheckpoint() ? run.readCheckpointHead() : null;
  const request = withTheRunsSpec(given, resumed, run.dir);
  const backend = await prepareBackend(request.backend);
  log.info(backend, 'backend');
  const config = trainConfig(resumed ? theRunsSettings(request.config, resumed.state, run.dir, log) : request.config);
  const { spec, dataset } = specAndData(request, log);
  log.info({ spec: spec.name, dataset: dataset.name, task: spec.task?.type ?? 'classification' }, 'data');
  // A signal that came while the data loaded (synchronous work) is seen after one turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  if (request.signal?.aborted) throw new InterruptedError(`interrupted before training started; nothing was written to ${request.outDir}`);
  const initialWeights = request.initFrom && !request.resume ? weightsToStartFrom(request.initFrom, spec, log) : undefined;
  const result = await train({
    initialWeights,
    spec,
    dataset,
    config,
    outDir: request.outDir,
    record: request.resume
      ? undefined
      : { command: request.command, spec: spec.name, specHash: specHash(spec), dataset: dataset.name, config },
    resume: request.resume,
    resumeWith: resumeCommand('train', request.outDir),
    evaluateTest: true,
    log,
    signal: request.signal,
    onProgress: request.onProgress,
  }).catch((err: unknown) => {
    throw outOfMemory(err, spec, config) ?? err;
  });
  const summary: TrainSummary = {
    ...(spec.task?.type === 'segmentation' ? { metric: 'mean IoU' as const } : {}),
    top1: result.top1,
    testImages: result.testImages,
    ...(result.partialTest ? { partialTest: true } : {}),
    valTop1: result.valTop1,
    epochs: result.epochs,
    imagesPerSec: result.imagesPerSec,
    backend: result.backend,
    params: result.params,
    madds: result.madds,
    checkpoint: result.checkpoint,
  };
  await run.writeResult({
    command: request.command,
    seed: config.seed,
    spec: spec.name,
    dataset: dataset.name,
    config,
    threads: result.threads,
    wallSeconds: result.wallSeconds,
    sessionWallSeconds: result.sessionWallSeconds,
    ...summary,
    history: result.history,
  });
  log.info(summary, 'trained');
  return summary;
}

/** A request whose spec is settled. */
type WithSpec = TrainJobRequest & { spec: ArchSpec; source: string };

/** What a resume reads of the run's checkpoint before training. */
type ResumedHead = ReturnType<TrainRunDir['readCheckpointHead']>;

/** A resume given no spec continues the run's own: its checkpoint's spec, on the dataset it trained on. */
function withTheRunsSpec(request: TrainJobRequest, resumed: ResumedHead | null, dir: string): WithSpec {
  if (request.spec) return { ...request, spec: request.spec, source: request.source ?? request.spec.name };
  if (!request.resume) throw new InputError('nas train needs --arch (the spec to train); only --resume reads it from the run in --out');
  if (!resumed) throw new InputError(`${dir} has no checkpoint to resume from: start the run again with --arch`);
  return {
    ...request,
    spec: resumed.spec,
    source: path.join(resumed.dir, SPEC_JSON),
    dataset: request.dataset ?? sourceOfDatasetName(resumed.state.dataset),
    // The checkpoint's spec is already at the run's resolution and class count.
    resolution: request.resolution ?? resumed.spec.input.resolution,
  };
}

/**
 * A resumed run trains on with its own settings (the checkpoint's), the requested --epochs aside
 * (without it, its own length: the default would retrain it to 10 epochs); --epochs below what the
 * run already trained is refused. Settings given again that differ are said to be ignored.
 */
function theRunsSettings(config: Partial<TrainConfig>, state: TrainerState, dir: string, log: Logger): Partial<TrainConfig> {
  const { epochs, ...given } = config;
  if (epochs !== undefined) refuseFewerEpochs(epochs, state, dir);
  const own = state.config;
  const ignored = Object.entries(given).filter(([key, value]) => value !== undefined && value !== own[key as keyof TrainConfig]);
  if (ignored.length)
    log.warn(
      { ignored: Object.fromEntries(ignored) },
      `a resumed run keeps its own settings: ${ignored.map(([key]) => key).join(', ')} given again and ignored (only --epochs changes a run)`,
    );
  return { ...own, epochs: epochs ?? own.epochs };
}

/** A run cannot be shortened below the epochs it trained (begun ones included): its result would record fewer than its weights had. */
function refuseFewerEpochs(epochs: number, { epoch, stepInEpoch }: TrainerState, dir: string): void {
  const least = stepInEpoch > 0 ? epoch + 1 : epoch;
  if (epochs >= least) return;
  const trained = `${countOf(epoch, 'epoch')}${stepInEpoch > 0 ? ` and ${countOf(stepInEpoch, 'step')}` : ''}`;
  throw new InputError(`--epochs ${epochs} is below the ${trained} already trained in ${dir}: give --epochs ${least} or more`);
}

/**
 * The weights of a checkpoint to start from, which must hold the architecture being trained (its
 * input resolution and class count may differ only if the weights still fit, which the assignment
 * checks weight by weight).
 */
function weightsToStartFrom(dir: string, spec: ArchSpec, log: Logger): NamedWeight[] {
  const checkpoint = loadCheckpoint(dir, (state) => state);
  const sameInput = withInput(checkpoint.spec, { resolution: spec.input.resolution, classes: spec.classes }, checkpoint.dir);
  if (specHash(sameInput) !== specHash(spec)) {
    throw new InputError(
      `--init-from ${dir}: the checkpoint holds ${checkpoint.spec.name} (${specHash(checkpoint.spec).slice(0, 12)}), another architecture than ${spec.name}; train its own spec with --arch ${shellArg(path.join(checkpoint.dir, 'spec.json'))}`,
    );
  }
  log.info({ from: checkpoint.dir, weights: checkpoint.weights.length }, 'starting from the weights of a checkpoint');
  return checkpoint.weights;
}

/** The spec at its training resolution, checked against the task, with the dataset's class count; and the dataset. */
function specAndData(request: WithSpec, log: Logger): { spec: ArchSpec; dataset: TrainingData } {
  const task = request.spec.task?.type ?? 'classification';
  if (request.task && request.task !== task) {
    throw new InputError(
      `${request.source} is a ${task} network; --task ${request.task} needs a spec with ${request.task === 'segmentation' ? 'an LR-ASPP head (e.g. lraspp-mobilenetv3-small)' : 'a classifier head'}`,
    );
  }
  const source = request.dataset ?? (task === 'segmentation' ? 'fashion-mosaic' : 'fashion-mnist');
  const base = atTrainingResolution(request, source, log);
  const dataset = loadDataset(source, base.input.resolution);
  const classes = request.classes ?? dataset.classNames.length;
  const spec = classes === base.classes ? base : withInput(base, { classes }, request.source);
  return { spec, dataset };
}

/**
 * The input size when no resolution is given, for datasets of small images: their own size
 * rounded up to the network's total stride of 32 (Fashion-MNIST's 28 px and CIFAR-10's 32 px train
 * at 32), and 64 for the mosaics (2 to 4 items of 28 px, results/dense.md). A zoo spec's 224 (an
 * LR-ASPP spec's 520) is its deployment size; upscaling small images to it makes a run about 50
 * times slower and no more accurate, and 520 px mosaics exhaust the wasm backend's memory.
 */
const NATURAL_RESOLUTION: Record<string, number> = { 'fashion-mnist': 32, cifar10: 32, 'fashion-mosaic': 64 };

function atTrainingResolution(request: WithSpec, dataset: string, log: Logger): ArchSpec {
  const { spec } = request;
  if (request.resolution !== undefined) return spec;
  const source = dataset.split(':')[0]!;
  const natural = NATURAL_RESOLUTION[source];
  if (natural === undefined || spec.input.resolution <= natural) return spec;
  log.info(
    `training at ${natural}x${natural}, the size of ${source}'s images (the spec says ${spec.input.resolution}: pass --resolution ${spec.input.resolution} to train at it)`,
  );
  return withInput(spec, { resolution: natural }, request.source);
}

/**
 * A wasm runtime error in training ('Aborted()', 'memory access out of bounds') as what it is, the
 * backend's memory exhausted by a large input or batch, and what to do; null for other errors.
 */
export function outOfMemory(err: unknown, spec: ArchSpec, config: TrainConfig): NasError | null {
  if (!(err instanceof WebAssembly.RuntimeError)) return null;
  const r = spec.input.resolution;
  return new NasError(
    `training ${spec.name} at ${r}x${r} with batches of ${config.batchSize} ran the wasm backend out of memory (${err.message}): lower --resolution or --batch-size`,
    { cause: err },
  );
}
