/**
 * The training loop: an ArchSpec and a dataset in, a trained model and its accuracy out.
 *
 * A run is a loop over durable state: every epoch end (and every few minutes, and on interrupt)
 * writes a checkpoint with the weights, optimizer slots and the position in the run; resuming
 * rebuilds the model from the spec, loads the checkpoint and replays the same data order and
 * augmentation from seeds derived from (seed, epoch, step).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { DivergedError, InputError, InterruptedError } from '../common/errors.js';
import { type Logger, silentLogger } from '../common/log.js';
import { derive, shuffle } from '../common/rng.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { specCost } from '../search-space/cost.js';
import { specHash } from '../search-space/spec-hash.js';
import { currentBackend } from './backend.js';
import { buildModel, setDropoutStep } from './build-model.js';
import { assignMatchingWeights, assignWeights, loadCheckpoint, type NamedWeight, saveCheckpoint } from './checkpoint.js';
import { bnMomentumFor, learningRateAt, type TrainConfig, TrainConfigSchema } from './config.js';
import { type Batcher, ImageBatcher } from './data/batches.js';
import type { SplitName } from './data/dataset.js';
import type { TrainingData } from './data/index.js';
import { MosaicDataset } from './data/mosaic.js';
import { meanIoU, SegmentationBatcher } from './data/segmentation-batches.js';
import { WeightAverage } from './ema.js';
import { DEFAULT_OPTIMIZER, Optimizer } from './optimizer.js';

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

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainTop1: number;
  valTop1: number;
  learningRate: number;
  imagesPerSec: number;
  seconds: number;
}

const EpochRecordSchema = z.object({
  epoch: z.int(),
  trainLoss: z.number(),
  trainTop1: z.number(),
  valTop1: z.number(),
  learningRate: z.number(),
  imagesPerSec: z.number(),
  seconds: z.number(),
});

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
  trainImages: z.int().min(0),
  history: z.array(EpochRecordSchema),
  backend: z.object({ backend: z.string(), threads: z.int() }),
  finished: z.boolean(),
});
export type TrainerState = z.infer<typeof TrainerStateSchema>;

export interface TrainRequest {
  spec: ArchSpec;
  /** Images for classification; mosaics for segmentation. */
  dataset: TrainingData;
  config: TrainConfig;
  /** Run directory for checkpoints; without one nothing is written. */
  outDir?: string;
  resume?: boolean;
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
export function evaluate(model: tf.LayersModel, batcher: Batcher, batchSize = 64): number {
  const classes = batcher.classes;
  const confusion = batcher.kind === 'segmentation' ? new Float64Array(classes * classes) : null;
  let correct = 0;
  for (let start = 0; start < batcher.count; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, batcher.count - start) }, (_, i) => start + i);
    const { x, y, labels } = batcher.batch(indices);
    const logits = model.predict(x) as tf.Tensor;
    const values = logits.dataSync() as Float32Array;
    if (confusion) addConfusion(confusion, values, labels, classes);
    else correct += countCorrect(values, labels, classes);
    tf.dispose([x, y, logits]);
  }
  if (confusion) return meanIoU(confusion, classes);
  return batcher.count ? correct / batcher.count : 0;
}

function addConfusion(confusion: Float64Array, logits: Float32Array, labels: Uint8Array, classes: number): void {
  for (let p = 0; p < labels.length; p++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[p * classes + k]! > logits[p * classes + best]!) best = k;
    confusion[labels[p]! * classes + best]!++;
  }
}

/** The batchers of the spec's task. */
export function batcherFor(
  spec: ArchSpec,
  dataset: TrainingData,
  split: SplitName,
  options: { augment: boolean; limit?: number | undefined; labelSmoothing?: number },
): Batcher {
  const task = spec.task?.type ?? 'classification';
  if (task === 'detection')
    throw new InputError(
      `${spec.name} is a detection network: training SSDLite is not supported yet (nas describe / latency / profile cover it)`,
    );
  if (task === 'segmentation') {
    if (!(dataset instanceof MosaicDataset))
      throw new InputError(
        `${spec.name} is a segmentation network: train it on --dataset fashion-mosaic (per-pixel labels), not ${dataset.name}`,
      );
    if (dataset.size !== spec.input.resolution)
      throw new InputError(
        `the mosaics are ${dataset.size}x${dataset.size} but the spec's input is ${spec.input.resolution}x${spec.input.resolution}`,
      );
    return new SegmentationBatcher(dataset, split, { channels: spec.input.channels, augment: options.augment, limit: options.limit });
  }
  if (dataset instanceof MosaicDataset)
    throw new InputError(`${spec.name} is a classification network: fashion-mosaic is a segmentation task`);
  return new ImageBatcher(dataset, split, {
    resolution: spec.input.resolution,
    channels: spec.input.channels,
    augment: options.augment,
    limit: options.limit,
    labelSmoothing: options.labelSmoothing,
  });
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

export async function train(request: TrainRequest): Promise<TrainResult> {
  const { spec, dataset, config, outDir } = request;
  const log = request.log ?? silentLogger;
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
  const totalSteps = stepsPerEpoch * config.epochs;
  const backend = currentBackend();

  let state: TrainerState = {
    schemaVersion: 1,
    kind: 'trainer-state',
    tool: TOOL_NAME,
    dataset: dataset.name,
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
  let resumed: ReturnType<typeof loadCheckpoint<TrainerState>> | null = null;
  if (request.resume) {
    if (!outDir) throw new InputError('--resume needs --out DIR (the run directory to continue)');
    resumed = loadCheckpoint(outDir, (data, file) => parseWith(TrainerStateSchema, data, file));
    if (specHash(resumed.spec) !== specHash(spec)) {
      throw new InputError(`${resumed.dir}: the checkpoint belongs to another spec (${resumed.spec.name}); use a new --out directory`);
    }
    if (resumed.state.dataset !== dataset.name)
      throw new InputError(`${resumed.dir}: the run trained on ${resumed.state.dataset}, not ${dataset.name}`);
    state = {
      ...resumed.state,
      config: { ...resumed.state.config, epochs: config.epochs },
      finished: resumed.state.finished && resumed.state.config.epochs >= config.epochs,
    };
    log.info({ epoch: state.epoch, step: state.stepInEpoch, dir: resumed.dir }, 'resuming');
  }
  const runConfig = state.config;

  const model = buildModel(spec, { seed: runConfig.seed, bnMomentum: state.bnMomentum });
  const optimizer = new Optimizer(model.trainableWeights, {
    ...DEFAULT_OPTIMIZER[runConfig.optimizer],
    momentum: runConfig.momentum,
    weightDecay: runConfig.weightDecay,
  });
  const step = trainingStep(model, optimizer);
  const ema = runConfig.ema === null ? null : new WeightAverage(model.trainableWeights, runConfig.ema);
  if (request.initialWeights && !resumed) assignMatchingWeights(model, request.initialWeights, 'initial weights');
  if (resumed) {
    assignWeights(model, resumed.weights, resumed.dir);
    const optimizerSlots = resumed.slots.slice(0, 2 * model.trainableWeights.length);
    optimizer.importSlots(optimizerSlots);
    ema?.importSlots(resumed.slots.slice(optimizerSlots.length));
  }
  const cost = specCost(spec);
  const slots = () => [...optimizer.exportSlots(), ...(ema?.exportSlots() ?? [])];
  const checkpoint = async () => (outDir ? saveCheckpoint(outDir, model, spec, state, slots()) : null);

  try {
    let lastCheckpoint = performance.now();
    while (state.epoch < runConfig.epochs) {
      const epoch = state.epoch;
      const order = shuffle(
        Int32Array.from({ length: trainBatcher.count }, (_, i) => i),
        derive(runConfig.seed, 'order', epoch),
      ) as Int32Array;
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      const epochStart = performance.now();
      let learningRate = 0;
      for (let s = state.stepInEpoch; s < stepsPerEpoch; s++) {
        // A step is synchronous tfjs work: without this a signal handler (or a pool worker's
        // parent-gone handler) would wait for the epoch's end.
        await yieldToEventLoop();
        if (request.signal?.aborted) {
          state.stepInEpoch = s;
          const saved = await checkpoint();
          throw new InterruptedError(
            `interrupted at epoch ${epoch + 1}, step ${s}${saved ? `: progress saved in ${saved}; continue with --resume` : ''}`,
          );
        }
        learningRate = learningRateAt(runConfig, epoch + s / stepsPerEpoch);
        const stepStart = performance.now();
        const batch = trainBatcher.batch(
          order.subarray(s * runConfig.batchSize, (s + 1) * runConfig.batchSize),
          derive(runConfig.seed, 'augment', epoch, s),
        );
        setDropoutStep(model, state.globalStep);
        const { loss, logits: logitValues } = step(batch, learningRate);
        // Images, not labels: a segmentation batch has a label per pixel.
        const images = batch.x.shape[0]!;
        tf.dispose([batch.x, batch.y]);
        if (!Number.isFinite(loss)) {
          const kept = state.history.length
            ? ` the checkpoint of epoch ${state.history.length} is kept in ${outDir ?? '(no run directory)'}`
            : '';
          throw new DivergedError(
            `loss became ${loss} at epoch ${epoch + 1}, step ${s + 1} (learning rate ${learningRate.toPrecision(3)}): lower --lr or raise --warmup-epochs;${kept}`,
          );
        }
        ema?.update(state.globalStep);
        state.trainSeconds += (performance.now() - stepStart) / 1000;
        state.trainImages += images;
        state.globalStep++;
        state.stepInEpoch = s + 1;
        lossSum += loss * batch.labels.length;
        correct += countCorrect(logitValues, batch.labels, spec.classes);
        seen += batch.labels.length;
        const imagesPerSec = state.trainImages / Math.max(state.trainSeconds, 1e-9);
        request.onProgress?.({
          epoch: epoch + 1,
          epochs: runConfig.epochs,
          step: s + 1,
          stepsPerEpoch,
          loss: lossSum / seen,
          accuracy: correct / seen,
          learningRate,
          imagesPerSec,
          etaSeconds: ((totalSteps - state.globalStep) * runConfig.batchSize) / imagesPerSec,
        });
        if (outDir && performance.now() - lastCheckpoint > runConfig.checkpointMinutes * 60_000) {
          await checkpoint();
          lastCheckpoint = performance.now();
        }
      }
      const valTop1 = ema ? ema.withAverage(() => evaluate(model, valBatcher)) : evaluate(model, valBatcher);
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: seen ? lossSum / seen : NaN,
        trainTop1: seen ? correct / seen : NaN,
        valTop1,
        learningRate,
        imagesPerSec: state.trainImages / Math.max(state.trainSeconds, 1e-9),
        seconds: (performance.now() - epochStart) / 1000,
      };
      state.history.push(record);
      log.info(record, `epoch ${epoch + 1}/${runConfig.epochs}`);
      state.epoch = epoch + 1;
      state.stepInEpoch = 0;
      await checkpoint();
      lastCheckpoint = performance.now();
    }
    state.finished = true;
    if (ema) ema.swapIn();
    const saved = await checkpoint();
    let top1: number | null = null;
    if (request.evaluateTest ?? true) {
      top1 = evaluate(model, batcherFor(spec, dataset, 'test', { augment: false }));
    }
    return {
      top1,
      valTop1: state.history.at(-1)?.valTop1 ?? evaluate(model, valBatcher),
      epochs: state.epoch,
      steps: state.globalStep,
      imagesPerSec: state.trainImages / Math.max(state.trainSeconds, 1e-9),
      backend: backend.backend,
      threads: backend.threads,
      params: cost.params,
      madds: cost.madds,
      checkpoint: saved,
      history: state.history,
    };
  } finally {
    model.dispose();
  }
}

/** Lets pending events (a Ctrl-C handler, IPC) run between two synchronous training steps. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
