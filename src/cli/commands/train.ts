import type { CommandModule } from 'yargs';
import type { Logger } from '../../common/log.js';
import { BACKENDS, type BackendName } from '../../trainer/backend-names.js';
import { DEFAULT_LEARNING_RATE, DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../trainer/config.js';
import { DATASET_FORMS } from '../../trainer/data/index.js';
import type { TrainProgress } from '../../trainer/train.js';
import type { TrainSummary } from '../../trainer/train-run.js';
import { action, examples, givenCommand, loadSpecArgument, printJson } from '../common.js';
import { formatDuration, interruptSignal, ProgressReporter, trainingProgressLine } from '../progress.js';
import { exclusiveFlags } from '../usage-errors.js';

interface TrainArgs {
  force?: boolean;
  arch?: string;
  dataset?: string;
  task?: 'classification' | 'segmentation';
  out: string;
  resume?: boolean;
  initFrom?: string;
  json?: boolean;
  backend: BackendName | 'auto';
  resolution?: number;
  classes?: number;
  epochs?: number;
  trainSamples?: number;
  validationSamples?: number;
  testSamples?: number;
  batchSize?: number;
  seed?: number;
  optimizer?: 'rmsprop' | 'sgd';
  lr?: number;
  warmupEpochs?: number;
  schedule?: TrainConfig['schedule'];
  momentum?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  bnMomentum?: number;
  ema?: number;
  augment?: boolean;
}

export const backendOption = {
  backend: { choices: ['auto', ...BACKENDS] as const, default: 'auto' as const, describe: 'tfjs backend (auto: tensorflow > wasm > cpu)' },
} as const;

const EXAMPLES = examples([
  ['$0 train --arch mobilenetv3-small-0.5 --epochs 15 --out runs/small05', 'a zoo model on Fashion-MNIST at 32x32'],
  ['$0 train --arch my-spec.json --dataset folder:./images --out runs/mine', 'your spec on your images (a folder per class)'],
  ['$0 train --out runs/mine --resume', 'continue it after Ctrl-C (its spec, dataset and settings are in the run)'],
]);

const d = DEFAULT_TRAIN_CONFIG;

/** The training settings: unset ones take the library's defaults (trainer/config.ts), shown here as they are. */
const trainingOptions = {
  epochs: { type: 'number', defaultDescription: String(d.epochs) },
  'train-samples': { type: 'number', describe: 'use only the first N training images', defaultDescription: 'all' },
  'validation-samples': { type: 'number', describe: 'validate on the first N validation images', defaultDescription: 'all' },
  'test-samples': {
    type: 'number',
    describe: 'score the result on the first N test images (a quick look, not comparable to a whole-split score)',
    defaultDescription: 'all',
  },
  'batch-size': { type: 'number', defaultDescription: String(d.batchSize) },
  seed: { type: 'number', describe: 'initial weights, data order and augmentation', defaultDescription: String(d.seed) },
  optimizer: { choices: ['rmsprop', 'sgd'] as const, defaultDescription: d.optimizer },
  lr: {
    type: 'number',
    describe: 'base learning rate',
    defaultDescription: `${DEFAULT_LEARNING_RATE.sgd} with sgd, ${DEFAULT_LEARNING_RATE.rmsprop} with rmsprop`,
  },
  'warmup-epochs': { type: 'number', describe: 'linear learning-rate warm-up', defaultDescription: String(d.warmupEpochs) },
  schedule: {
    choices: ['cosine', 'exponential', 'constant'] as const,
    describe: 'learning rate after the warm-up',
    defaultDescription: d.schedule,
  },
  momentum: { type: 'number', defaultDescription: String(d.momentum) },
  'weight-decay': { type: 'number', describe: 'L2 on conv/dense kernels', defaultDescription: d.weightDecay.toFixed(5) },
  'label-smoothing': { type: 'number', defaultDescription: String(d.labelSmoothing) },
  'bn-momentum': { type: 'number', describe: 'batch-norm moving-average momentum', defaultDescription: 'picked for the run length' },
  ema: { type: 'number', describe: 'weight EMA decay for evaluation', defaultDescription: 'off' },
  augment: {
    type: 'boolean',
    describe: 'random shifts and flips (--no-augment to turn off)',
    defaultDescription: d.augment ? 'on' : 'off',
  },
} as const;

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train a spec on an image dataset, with checkpoints, --resume and a progress bar',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .option('arch', {
        type: 'string',
        describe: 'ArchSpec JSON, block-string document, or zoo model name (required unless --resume, which continues the run in --out)',
      })
      .option('dataset', {
        type: 'string',
        describe: `${DATASET_FORMS.join(' | ')} (default: fashion-mnist, or fashion-mosaic for segmentation)`,
      })
      .option('task', {
        choices: ['classification', 'segmentation'] as const,
        describe: 'what the spec predicts (checked against its head)',
      })
      .option('out', { type: 'string', demandOption: true, describe: 'run directory (checkpoint, result.json)' })
      .option('resume', { type: 'boolean', describe: 'continue the run in --out' })
      .option('init-from', {
        type: 'string',
        describe:
          "start from the weights of a checkpoint of the same architecture (e.g. a supernet run's best-weights/): fine-tuning, with a fresh optimizer and schedule",
      })
      .option('force', { type: 'boolean', describe: 'start over in an --out that already holds a run (its checkpoint is replaced)' })
      .check(exclusiveFlags('resume', 'force'))
      .option('json', { type: 'boolean', describe: 'print the result as one JSON line' })
      .options(backendOption)
      .option('resolution', {
        type: 'number',
        describe:
          "input resolution (default: 32 for fashion-mnist and cifar10, whose images are 28 and 32 px, 64 for fashion-mosaic; the spec's otherwise)",
      })
      .option('classes', { type: 'number', describe: "classifier width (default: the dataset's class count)" })
      .options(trainingOptions)
      .check((argv) =>
        argv.arch === undefined && !argv.resume ? 'missing --arch (only --resume takes the spec from the run in --out)' : true,
      ) as never,
  handler: action<TrainArgs>(async (args, { log }) => {
    const progress = new ProgressReporter(log);
    const { runTrainJob } = await import('../../trainer/train-job.js');
    let summary: TrainSummary;
    try {
      summary = await runTrainJob({
        spec: args.arch === undefined ? undefined : loadSpecArgument(args.arch, { resolution: args.resolution }),
        source: args.arch,
        dataset: args.dataset,
        task: args.task,
        resolution: args.resolution,
        classes: args.classes,
        config: configOptions(args),
        outDir: args.out,
        resume: args.resume,
        initFrom: args.initFrom,
        force: args.force,
        backend: args.backend,
        command: givenCommand(),
        log,
        signal: interruptSignal(log),
        onProgress: (p) => showProgress(progress, p, log),
      });
    } finally {
      progress.done();
    }
    if (args.json) printJson(summary);
    else {
      const metric = summary.metric ?? 'top-1';
      process.stdout.write(
        `test ${metric} ${(100 * (summary.top1 ?? 0)).toFixed(2)}%${partialTest(summary)}, validation ${metric} ${(100 * summary.valTop1).toFixed(2)}%, ${summary.imagesPerSec.toFixed(0)} img/s on ${summary.backend}; checkpoint ${summary.checkpoint}\n`,
      );
    }
  }),
};

/** How many test images the score is of, when the run scored part of the test split (--test-samples). */
function partialTest(summary: TrainSummary): string {
  return summary.testImages && summary.partialTest ? ` (on the first ${summary.testImages} test images)` : '';
}

/** The training settings given on the command line (the rest keep their defaults). */
function configOptions(args: TrainArgs): Partial<TrainConfig> {
  return {
    epochs: args.epochs,
    batchSize: args.batchSize,
    trainSamples: args.trainSamples,
    validationSamples: args.validationSamples,
    testSamples: args.testSamples,
    seed: args.seed,
    optimizer: args.optimizer,
    learningRate: args.lr,
    warmupEpochs: args.warmupEpochs,
    schedule: args.schedule,
    momentum: args.momentum,
    weightDecay: args.weightDecay,
    labelSmoothing: args.labelSmoothing,
    bnMomentum: args.bnMomentum,
    ema: args.ema,
    augment: args.augment,
  };
}

function showProgress(progress: ProgressReporter, p: TrainProgress, log: Logger): void {
  warnOfLongRun(p, (p.epoch - 1) * p.stepsPerEpoch + p.step, log);
  progress.update(trainingProgressLine(p));
}

/** Hours beyond which a run's estimated time is worth a warning before the user walks away. */
const LONG_RUN_HOURS = 3;
/** Steps timed before the estimate is trusted (the first ones include warm-up). */
const ESTIMATE_AFTER_STEPS = 20;
let warnedOfLongRun = false;

function warnOfLongRun(p: TrainProgress, stepsDone: number, log: Logger): void {
  if (warnedOfLongRun || stepsDone < ESTIMATE_AFTER_STEPS || p.etaSeconds < LONG_RUN_HOURS * 3600) return;
  warnedOfLongRun = true;
  log.warn(
    `this run needs about ${formatDuration(p.etaSeconds)} more at ${p.imagesPerSec.toFixed(0)} img/s: lower --epochs, --train-samples or --resolution for a shorter one (Ctrl-C saves it; --resume continues)`,
  );
}
