/**
 * Training settings: one validated object used by `nas train`, the search's proxy evaluator and
 * NetAdapt's fine-tunes. Defaults suit short runs on the bundled proxy task.
 */
import { z } from 'zod';
import { parseWith } from '../common/validate.js';

export const TrainConfigSchema = z.strictObject({
  epochs: z.int().positive(),
  batchSize: z.int().positive().max(4096),
  /** Train on the first N training images only (null: all). */
  trainSamples: z.int().positive().nullable(),
  /** Evaluate on the first N validation images only (null: all). */
  validationSamples: z.int().positive().nullable(),
  /**
   * Score the finished run on the first N test images only (absent: all, as runs recorded before
   * it existed were): a quick look, not a result to compare with one on the whole split.
   */
  testSamples: z.int().positive().optional(),
  optimizer: z.enum(['rmsprop', 'sgd']),
  learningRate: z.number().positive(),
  warmupEpochs: z.number().min(0),
  schedule: z.enum(['cosine', 'exponential', 'constant']),
  /** Exponential schedule: multiply the rate by decayRate every decayEpochs. */
  decayRate: z.number().positive().max(1),
  decayEpochs: z.number().positive(),
  momentum: z.number().min(0).lt(1),
  weightDecay: z.number().min(0),
  labelSmoothing: z.number().min(0).lt(1),
  /** Random shifts and horizontal flips of training images. */
  augment: z.boolean(),
  /** Batch-norm moving-average momentum; null picks one for the run's length. */
  bnMomentum: z.number().gt(0).lt(1).nullable(),
  /** Decay of an exponential moving average of the weights used for evaluation; null: off. */
  ema: z.number().gt(0).lt(1).nullable(),
  seed: z.int().min(0),
  /** Checkpoint at least this often during an epoch (and at every epoch end). */
  checkpointMinutes: z.number().positive(),
});
export type TrainConfig = z.infer<typeof TrainConfigSchema>;

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  epochs: 10,
  batchSize: 32,
  trainSamples: null,
  validationSamples: null,
  optimizer: 'sgd',
  learningRate: 0.05,
  warmupEpochs: 0.5,
  schedule: 'cosine',
  decayRate: 0.97,
  decayEpochs: 1,
  momentum: 0.9,
  weightDecay: 4e-5,
  labelSmoothing: 0.1,
  augment: true,
  bnMomentum: null,
  ema: null,
  seed: 0,
  checkpointMinutes: 5,
};

/** Default base learning rate per optimizer (batch 32, the proxy task). */
export const DEFAULT_LEARNING_RATE = { rmsprop: 0.001, sgd: 0.05 } as const;

export function trainConfig(overrides: Partial<TrainConfig>, source = 'training options'): TrainConfig {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<TrainConfig>;
  const optimizer = defined.optimizer ?? DEFAULT_TRAIN_CONFIG.optimizer;
  const learningRate = defined.learningRate ?? DEFAULT_LEARNING_RATE[optimizer];
  return parseWith(TrainConfigSchema, { ...DEFAULT_TRAIN_CONFIG, ...defined, learningRate }, source);
}

/**
 * A short fine-tune from trained or inherited weights (NetAdapt's proposals, a supernet's
 * candidates): one pass of `steps` batches of 32, no warm-up or augmentation, SGD at 0.01 unless
 * given, scored on the first `validationSamples` validation images.
 */
export function shortFinetuneConfig(
  options: { steps: number; validationSamples: number; seed: number; learningRate?: number | undefined },
  source: string,
): TrainConfig {
  return trainConfig(
    {
      epochs: 1,
      trainSamples: options.steps * 32,
      batchSize: 32,
      validationSamples: options.validationSamples,
      learningRate: options.learningRate ?? 0.01,
      warmupEpochs: 0,
      seed: options.seed,
      augment: false,
    },
    source,
  );
}

/** BN momentum for a run of `steps` steps: averages over ~1/20 of the run, within [0.9, 0.99]. */
export function bnMomentumFor(steps: number): number {
  return Math.min(0.99, Math.max(0.9, 1 - 20 / Math.max(steps, 1)));
}

/** Learning rate at a (fractional) epoch: linear warmup, then the schedule. */
export function learningRateAt(config: TrainConfig, epoch: number): number {
  const { learningRate: base, warmupEpochs, epochs } = config;
  if (epoch < warmupEpochs) return (base * (epoch + 1e-3)) / warmupEpochs;
  const t = epoch - warmupEpochs;
  switch (config.schedule) {
    case 'constant':
      return base;
    case 'exponential':
      return base * config.decayRate ** Math.floor(t / config.decayEpochs);
    case 'cosine':
      return 0.5 * base * (1 + Math.cos((Math.PI * t) / Math.max(epochs - warmupEpochs, 1e-9)));
  }
}
