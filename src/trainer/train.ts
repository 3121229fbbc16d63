/**
 * The training loop: an ArchSpec and a dataset in, a trained model and its accuracy out.
 *
 * A run is a loop over durable state: every epoch end (and every few minutes, and on interrupt)
 * writes a checkpoint with the weights, optimizer slots and the position in the run; resuming
 * rebuilds the model from the spec, loads the checkpoint and replays the same data order and
 * augmentation from seeds derived from (seed, epoch, step). The checkpoint lives in the run
 * directory (train-run.ts) when there is one.
 */
import { DivergedError, InputError, InterruptedError } from '../common/errors.js';
import { type Logger, silentLogger } from '../common/log.js';
import { derive, shuffle } from '../common/rng.js';
import { withRunLock } from '../common/run-lock.js';
import { TOOL_NAME } from '../common/version.js';
import { RunWallTime } from '../common/wall-time.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { specCost } from '../search-space/cost.js';
import { specHash } from '../search-space/spec-hash.js';
import { currentBackend } from './backend.js';
import { buildModel, setDropoutStep } from './build-model.js';
import { assignMatchingWeights, assignWeights, type NamedWeight } from './checkpoint.js';
import { bnMomentumFor, learningRateAt, type TrainConfig } from './config.js';
import { type Batcher, ImageBatcher } from './data/batches.js';
import type { SplitName } from './data/dataset.js';
import type { TrainingData } from './data/index.js';
import { MosaicDataset } from './data/mosaic.js';
import { meanIoU, SegmentationBatcher } from './data/segmentation-batches.js';
import { WeightAverage } from './ema.js';
import { DEFAULT_OPTIMIZER, Optimizer } from './optimizer.js';
import { tf } from './tf.js';
import { type EpochRecord, type NewTrainRunRecord, type TrainerState, TrainRunDir } from './train-run.js';

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  accuracy: number;
  learningRate: number;
  imagesPerSec: number;
  etaSeconds: number;
}

/** The checkpoint's trainer state is one of the run directory's records (train-run.ts). */
export { type EpochRecord, type TrainerState, TrainerStateSchema } from './train-run.js';

export interface TrainRequest {
  spec: ArchSpec;
  /** Images for classification; mosaics for segmentation. */
  dataset: TrainingData;
  config: TrainConfig;
  /** Run directory for checkpoints; without one nothing is written. */
  outDir?: string;
  /**
   * The run record (run.json) of a run that starts in `outDir`, written once the run is set up
   * (data, spec and weights checked), so that a run refused in setup leaves no record behind.
   */
  record?: NewTrainRunRecord;
  resume?: boolean;
  /** What continues the run after an interrupt, for its message: the command line (default: `--resume`, of the command that started it). */
  resumeWith?: string;
  /** Start from these weights (by layer-id names; the rest keep their fresh initialisation). */
  initialWeights?: readonly NamedWeight[];
  /** Evaluate on the test split at the end (the search never does: it uses validation only). */
  evaluateTest?: boolean;
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

export interface TrainResult {
  /** Test top-1 (null when not evaluated). */
  top1: number | null;
  /** The test images it was scored on (null when not evaluated). */
  testImages: number | null;
  /** Whether those were fewer than the test split holds (--test-samples). */
  partialTest: boolean;
  valTop1: number;
  epochs: number;
  steps: number;
  imagesPerSec: number;
  backend: string;
  threads: number;
  params: number;
  madds: number;
  checkpoint: string | null;
  history: EpochRecord[];
  /** The run's wall time over every session that trained it, and this session's. */
  wallSeconds: number;
  sessionWallSeconds: number;
}

/**
 * One optimisation step: forward in training mode, softmax cross-entropy against the (smoothed)
 * targets, gradients of every trainable weight, optimizer update. The update is skipped when the
 * loss is not finite. Returns the loss and the logits (for training accuracy).
 */
export function trainingStep(model: tf.LayersModel, optimizer: Optimizer) {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return (batch: { x: tf.Tensor; y: tf.Tensor }, learningRate: number): { loss: number; logits: Float32Array } => {
    let logits: tf.Tensor | undefined;
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        logits = tf.keep(model.apply(batch.x, { training: true }) as tf.Tensor);
        return tf.losses.softmaxCrossEntropy(batch.y, logits) as tf.Scalar;
      }, variables);
      const lossValue = value.dataSync()[0]!;
      if (Number.isFinite(lossValue))
        optimizer.apply(
          variables.map((v) => grads[v.name]!),
          learningRate,
        );
      return lossValue;
    });
    const values = logits!.dataSync() as Float32Array;
    logits!.dispose();
    return { loss, logits: values };
  };
}

/**
 * The validation metric of `model` on a split, in inference mode: top-1 accuracy for
 * classification, mean IoU over pixels for segmentation.
 */
export function evaluate(model: tf.LayersModel, batcher: Batcher, batchSize = scoringBatchSize(model)): number {
  const classes = batcher.classes;
  const confusion = batcher.kind === 'segmentation' ? new Float64Array(classes * classes) : null;
  let correct = 0;
  for (let start = 0; start < batcher.count; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, batcher.count - start) }, (_, i) => start + i);
    const { x, y, labels } = batcher.batch(indices);
    // predict() alone would split the batch into passes of 32 images.
    const logits = model.predict(x, { batchSize }) as tf.Tensor;
    const values = logits.dataSync() as Float32Array;
    if (confusion) addConfusion(confusion, values, labels, classes);
    else correct += countCorrect(values, labels, classes);
    tf.dispose([x, y, logits]);
  }
  if (confusion) return meanIoU(confusion, classes);
  return batcher.count ? correct / batcher.count : 0;
}

/** Pixels of the images scored in one forward pass: 256 images of 32x32. */
const SCORING_BATCH_PIXELS = 256 * 32 * 32;

/**
 * Images per forward pass when scoring a model: 256 at 32x32, fewer for larger inputs (64 at 64x64),
 * never fewer than the 32 tfjs passes by default. On the wasm backend a model's outputs are the
 * same bit for bit at any batch size (checked on MobileNetV3 and MnasNet classifiers and LR-ASPP
 * segmentation models), so this changes the time a score takes, not the score: at 32x32, 256
 * images a pass take less time than passes of 32 (results/bench.md, "Scoring throughput").
 */
export function scoringBatchSize(model: tf.LayersModel): number {
  const [, height, width] = model.inputs[0]!.shape;
  const pixels = (height ?? 32) * (width ?? 32);
  return Math.min(256, Math.max(32, Math.floor(SCORING_BATCH_PIXELS / pixels)));
}

function addConfusion(confusion: Float64Array, logits: Float32Array, labels: Uint8Array, classes: number): void {
  for (let p = 0; p < labels.length; p++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[p * classes + k]! > logits[p * classes + best]!) best = k;
    confusion[labels[p]! * classes + best]!++;
  }
}

/**
 * The batchers of the spec's task. `use` says what the data is for, in the advice when the dataset
 * is of another task: `evaluate` (a checkpoint's spec, `nas eval`) or `train` (the default).
 */
export function batcherFor(
  spec: ArchSpec,
  dataset: TrainingData,
  split: SplitName,
  options: { augment: boolean; limit?: number | undefined; labelSmoothing?: number; use?: 'train' | 'evaluate' },
): Batcher {
  const task = spec.task?.type ?? 'classification';
  if (task === 'detection')
    throw new InputError(
      `${spec.name} is a detection network: training SSDLite is not supported yet (nas describe / latency / profile cover it)`,
    );
  const network = options.use === 'evaluate' ? `the checkpoint's ${spec.name}` : spec.name;
  const verb = options.use ?? 'train';
  if (task === 'segmentation') {
    if (!(dataset instanceof MosaicDataset))
      throw new InputError(
        `${network} is a segmentation network: ${verb} it on a segmentation dataset (--dataset fashion-mosaic: per-pixel labels), not ${dataset.name}, a classification one`,
      );
    if (dataset.size !== spec.input.resolution)
      throw new InputError(
        `the mosaics are ${dataset.size}x${dataset.size} but the spec's input is ${spec.input.resolution}x${spec.input.resolution}`,
      );
    return new SegmentationBatcher(dataset, split, { channels: spec.input.channels, augment: options.augment, limit: options.limit });
  }
  if (dataset instanceof MosaicDataset)
    throw new InputError(
      `${network} is a classification network: ${verb} it on a classification dataset (e.g. --dataset fashion-mnist), not ${dataset.name}, a segmentation one`,
    );
  return new ImageBatcher(dataset, split, {
    resolution: spec.input.resolution,
    channels: spec.input.channels,
    augment: options.augment,
    limit: options.limit,
    labelSmoothing: options.labelSmoothing,
  });
}

/**
 * The first `limit` images of `split` for scoring (all without a limit), and whether they are fewer
 * than the split holds: `nas train --test-samples` and `nas eval --samples` say so beside the score.
 */
export function scoringSplit(
  spec: ArchSpec,
  dataset: TrainingData,
  split: SplitName,
  limit: number | undefined,
  use?: 'train' | 'evaluate',
): { batcher: Batcher; partial: boolean } {
  const firstOf = (first?: number) => batcherFor(spec, dataset, split, { augment: false, limit: first, use });
  const batcher = firstOf(limit);
  return { batcher, partial: limit !== undefined && batcher.count < firstOf().count };
}

function countCorrect(logits: Float32Array, labels: Uint8Array, classes: number): number {
  let correct = 0;
  for (let b = 0; b < labels.length; b++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[b * classes + k]! > logits[b * classes + best]!) best = k;
    if (best === labels[b]) correct++;
  }
  return correct;
}

/**
 * Trains `request.spec`: from fresh (or given) weights, or on `resume` from the run directory's
 * checkpoint, to `config.epochs`; checkpoints at every epoch end, every `checkpointMinutes` and on
 * abort. Returns the metrics of the last epoch (and the test split's when asked).
 */
export function train(request: TrainRequest): Promise<TrainResult> {
  return request.outDir ? withRunLock(request.outDir, 'training', () => trainSession(request)) : trainSession(request);
}

async function trainSession(request: TrainRequest): Promise<TrainResult> {
  const session = TrainingSession.open(request);
  try {
    if (request.record) await session.writeRecord(request.record);
    while (session.state.epoch < session.config.epochs) await session.runEpoch();
    return await session.finish();
  } finally {
    session.dispose();
  }
}

/** The batchers of a run and its length, checked against the dataset. */
function prepareData(request: TrainRequest) {
  const { spec, dataset, config } = request;
  if (spec.classes !== dataset.classNames.length) {
    throw new InputError(
      `the spec has ${spec.classes} classes but ${dataset.name} has ${dataset.classNames.length}: use --classes ${dataset.classNames.length}`,
    );
  }
  const trainBatcher = batcherFor(spec, dataset, 'train', {
    augment: config.augment,
    limit: config.trainSamples ?? undefined,
    labelSmoothing: config.labelSmoothing,
  });
  const valBatcher = batcherFor(spec, dataset, 'validation', { augment: false, limit: config.validationSamples ?? undefined });
  const stepsPerEpoch = Math.floor(trainBatcher.count / config.batchSize);
  if (stepsPerEpoch < 1) throw new InputError(`batch size ${config.batchSize} is larger than the ${trainBatcher.count} training images`);
  return { trainBatcher, valBatcher, stepsPerEpoch, totalSteps: stepsPerEpoch * config.epochs };
}

/** The state of a run that starts now. */
function freshState(request: TrainRequest, totalSteps: number, backend: { backend: string; threads: number }): TrainerState {
  const { config } = request;
  return {
    schemaVersion: 1,
    kind: 'trainer-state',
    tool: TOOL_NAME,
    dataset: request.dataset.name,
    config,
    bnMomentum: config.bnMomentum ?? bnMomentumFor(totalSteps),
    epoch: 0,
    stepInEpoch: 0,
    globalStep: 0,
    trainSeconds: 0,
    trainImages: 0,
    history: [],
    backend: { backend: backend.backend, threads: backend.threads },
    finished: false,
  };
}

type Resumed = ReturnType<TrainRunDir['readCheckpoint']>;

/** The checkpoint a resumed run continues from, checked against the request, and its state (with the requested epochs). */
function resumeFrom(request: TrainRequest, run: TrainRunDir | null, log: Logger): { resumed: Resumed; state: TrainerState } {
  if (!run) throw new InputError('--resume needs --out DIR (the run directory to continue)');
  const { spec, dataset, config } = request;
  const resumed = run.readCheckpoint();
  if (specHash(resumed.spec) !== specHash(spec)) {
    throw new InputError(`${resumed.dir}: the checkpoint belongs to another spec (${resumed.spec.name}); use a new --out directory`);
  }
  if (resumed.state.dataset !== dataset.name)
    throw new InputError(`${resumed.dir}: the run trained on ${resumed.state.dataset}, not ${dataset.name}`);
  const state = {
    ...resumed.state,
    config: { ...resumed.state.config, epochs: config.epochs },
    finished: resumed.state.finished && resumed.state.config.epochs >= config.epochs,
  };
  log.info({ epoch: state.epoch, step: state.stepInEpoch, dir: resumed.dir }, 'resuming');
  return { resumed, state };
}

/** Loss and correct predictions of the epoch's steps so far (the progress line and the epoch record). */
interface EpochTotals {
  lossSum: number;
  correct: number;
  seen: number;
  learningRate: number;
}

/**
 * One training run in memory: the model, optimizer, EMA and batchers, the durable state and the run
 * directory its checkpoints go to (none without `outDir`).
 */
class TrainingSession {
  private readonly step: ReturnType<typeof trainingStep>;
  private lastCheckpoint = performance.now();
  private readonly wallTime: RunWallTime;

  private constructor(
    private readonly request: TrainRequest,
    private readonly log: Logger,
    private readonly run: TrainRunDir | null,
    private readonly data: ReturnType<typeof prepareData>,
    private readonly backend: { backend: string; threads: number },
    readonly state: TrainerState,
    private readonly model: tf.LayersModel,
    private readonly optimizer: Optimizer,
    private readonly ema: WeightAverage | null,
  ) {
    this.step = trainingStep(model, optimizer);
    this.wallTime = new RunWallTime(state.wallSeconds ?? 0);
  }

  /** Builds the model and restores the checkpoint (on resume) or the initial weights. */
  static open(request: TrainRequest): TrainingSession {
    const log = request.log ?? silentLogger;
    const data = prepareData(request);
    const backend = currentBackend();
    const run = request.outDir ? new TrainRunDir(request.outDir) : null;
    let state = freshState(request, data.totalSteps, backend);
    let resumed: Resumed | null = null;
    if (request.resume) ({ resumed, state } = resumeFrom(request, run, log));
    const runConfig = state.config;
    const model = buildModel(request.spec, { seed: runConfig.seed, bnMomentum: state.bnMomentum });
    const optimizer = new Optimizer(model.trainableWeights, {
      ...DEFAULT_OPTIMIZER[runConfig.optimizer],
      momentum: runConfig.momentum,
      weightDecay: runConfig.weightDecay,
    });
    const ema = runConfig.ema === null ? null : new WeightAverage(model.trainableWeights, runConfig.ema);
    const session = new TrainingSession(request, log, run, data, backend, state, model, optimizer, ema);
    if (request.initialWeights && !resumed) assignMatchingWeights(model, request.initialWeights, 'initial weights');
    if (resumed) {
      assignWeights(model, resumed.weights, resumed.dir);
      const optimizerSlots = resumed.slots.slice(0, 2 * model.trainableWeights.length);
      optimizer.importSlots(optimizerSlots);
      ema?.importSlots(resumed.slots.slice(optimizerSlots.length));
    }
    return session;
  }

  async writeRecord(record: NewTrainRunRecord): Promise<void> {
    await this.run?.writeRecord(record);
  }

  /** The run's settings (the requested ones, or the resumed run's with the requested epochs). */
  get config(): TrainConfig {
    return this.state.config;
  }

  private async checkpoint(): Promise<string | null> {
    if (!this.run) return null;
    this.state.wallSeconds = this.wallTime.totalSeconds();
    const slots = [...this.optimizer.exportSlots(), ...(this.ema?.exportSlots() ?? [])];
    return this.run.writeCheckpoint(this.model, this.request.spec, this.state, slots);
  }

  /** Trains the rest of the current epoch, evaluates on validation and checkpoints. */
  async runEpoch(): Promise<void> {
    const { state, config } = this;
    const epoch = state.epoch;
    const order = shuffle(
      Int32Array.from({ length: this.data.trainBatcher.count }, (_, i) => i),
      derive(config.seed, 'order', epoch),
    ) as Int32Array;
    const totals: EpochTotals = { lossSum: 0, correct: 0, seen: 0, learningRate: 0 };
    const epochStart = performance.now();
    for (let s = state.stepInEpoch; s < this.data.stepsPerEpoch; s++) {
      // A step is synchronous tfjs work: without this a signal handler (or a pool worker's
      // parent-gone handler) would wait for the epoch's end.
      await yieldToEventLoop();
      if (this.request.signal?.aborted) await this.stop(epoch, s);
      this.trainStep(epoch, s, order, totals);
      if (this.run && performance.now() - this.lastCheckpoint > config.checkpointMinutes * 60_000) {
        await this.checkpoint();
        this.lastCheckpoint = performance.now();
      }
    }
    await this.endEpoch(epoch, totals, epochStart);
  }

  /** Saves the run at step `s` and throws the InterruptedError that says so. */
  private async stop(epoch: number, s: number): Promise<never> {
    this.state.stepInEpoch = s;
    const saved = await this.checkpoint();
    throw new InterruptedError(
      `interrupted at epoch ${epoch + 1}, step ${s}${saved ? `: progress saved in ${saved}; continue with ${this.request.resumeWith ?? '--resume'}` : ''}`,
    );
  }

  /** Step `s` of `epoch`: one optimisation step on its batch, the state and totals advanced, progress reported. */
  private trainStep(epoch: number, s: number, order: Int32Array, totals: EpochTotals): void {
    const { state, config } = this;
    const { stepsPerEpoch, totalSteps } = this.data;
    const learningRate = learningRateAt(config, epoch + s / stepsPerEpoch);
    totals.learningRate = learningRate;
    const stepStart = performance.now();
    const batch = this.data.trainBatcher.batch(
      order.subarray(s * config.batchSize, (s + 1) * config.batchSize),
      derive(config.seed, 'augment', epoch, s),
    );
    setDropoutStep(this.model, state.globalStep);
    const { loss, logits: logitValues } = this.step(batch, learningRate);
    // Images, not labels: a segmentation batch has a label per pixel.
    const images = batch.x.shape[0]!;
    tf.dispose([batch.x, batch.y]);
    if (!Number.isFinite(loss)) this.diverged(loss, epoch, s, learningRate);
    this.ema?.update(state.globalStep);
    state.trainSeconds += (performance.now() - stepStart) / 1000;
    state.trainImages += images;
    state.globalStep++;
    state.stepInEpoch = s + 1;
    totals.lossSum += loss * batch.labels.length;
    totals.correct += countCorrect(logitValues, batch.labels, this.request.spec.classes);
    totals.seen += batch.labels.length;
    const imagesPerSec = state.trainImages / Math.max(state.trainSeconds, 1e-9);
    this.request.onProgress?.({
      epoch: epoch + 1,
      epochs: config.epochs,
      step: s + 1,
      stepsPerEpoch,
      loss: totals.lossSum / totals.seen,
      accuracy: totals.correct / totals.seen,
      learningRate,
      imagesPerSec,
      etaSeconds: ((totalSteps - state.globalStep) * config.batchSize) / imagesPerSec,
    });
  }

  private diverged(loss: number, epoch: number, s: number, learningRate: number): never {
    const kept = this.state.history.length
      ? ` the checkpoint of epoch ${this.state.history.length} is kept in ${this.request.outDir ?? '(no run directory)'}`
      : '';
    throw new DivergedError(
      `loss became ${loss} at epoch ${epoch + 1}, step ${s + 1} (learning rate ${learningRate.toPrecision(3)}): lower --lr or raise --warmup-epochs;${kept}`,
    );
  }

  /** The epoch's record (validation metric with the EMA weights when on), then a checkpoint. */
  private async endEpoch(epoch: number, totals: EpochTotals, epochStart: number): Promise<void> {
    const { state, ema, model } = this;
    const valBatcher = this.data.valBatcher;
    const valTop1 = ema ? ema.withAverage(() => evaluate(model, valBatcher)) : evaluate(model, valBatcher);
    const { lossSum, correct, seen } = totals;
    const record: EpochRecord = {
      epoch: epoch + 1,
      trainLoss: seen ? lossSum / seen : NaN,
      trainTop1: seen ? correct / seen : NaN,
      valTop1,
      learningRate: totals.learningRate,
      imagesPerSec: state.trainImages / Math.max(state.trainSeconds, 1e-9),
      seconds: (performance.now() - epochStart) / 1000,
    };
    state.history.push(record);
    const logged = this.request.spec.task?.type === 'segmentation' ? segmentationEpochLog(record) : record;
    this.log.info(logged, `epoch ${epoch + 1}/${this.config.epochs}`);
    state.epoch = epoch + 1;
    state.stepInEpoch = 0;
    await this.checkpoint();
    this.lastCheckpoint = performance.now();
  }

  /** Marks the run finished (EMA weights swapped in), checkpoints it and reports its metrics. */
  async finish(): Promise<TrainResult> {
    const { state, model, request } = this;
    state.finished = true;
    if (this.ema) this.ema.swapIn();
    const saved = await this.checkpoint();
    let top1: number | null = null;
    let testImages: number | null = null;
    let partialTest = false;
    if (request.evaluateTest ?? true) {
      const test = scoringSplit(request.spec, request.dataset, 'test', this.config.testSamples);
      top1 = evaluate(model, test.batcher);
      testImages = test.batcher.count;
      partialTest = test.partial;
    }
    const valTop1 = state.history.at(-1)?.valTop1 ?? evaluate(model, this.data.valBatcher);
    const cost = specCost(request.spec);
    await this.wallTime.stop();
    return {
      top1,
      testImages,
      partialTest,
      valTop1,
      epochs: state.epoch,
      steps: state.globalStep,
      imagesPerSec: state.trainImages / Math.max(state.trainSeconds, 1e-9),
      backend: this.backend.backend,
      threads: this.backend.threads,
      params: cost.params,
      madds: cost.madds,
      checkpoint: saved,
      history: state.history,
      wallSeconds: this.wallTime.totalSeconds(),
      sessionWallSeconds: this.wallTime.sessionSeconds(),
    };
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Lets pending events (a Ctrl-C handler, IPC) run between two synchronous training steps. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * An epoch record as a segmentation run logs it: its train and validation metrics are pixel
 * accuracy and mean IoU. The run's files keep the record's own keys, which their readers expect.
 */
function segmentationEpochLog({ trainTop1, valTop1, ...rest }: EpochRecord) {
  return { ...rest, trainPixelAccuracy: trainTop1, valMeanIou: valTop1 };
}
