import { existsSync } from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { InputError } from '../../common/errors.js';
import { writeJsonAtomic } from '../../common/json-io.js';
import type { Logger } from '../../common/log.js';
import { TOOL_NAME } from '../../common/version.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import { withInput } from '../../search-space/io.js';
import { BACKENDS, type BackendName, prepareBackend } from '../../trainer/backend.js';
import { CHECKPOINT_DIR } from '../../trainer/checkpoint.js';
import { type TrainConfig, trainConfig } from '../../trainer/config.js';
import { DATASET_FORMS, loadDataset } from '../../trainer/data/index.js';
import { type TrainProgress, train } from '../../trainer/train.js';
import { action, loadSpecArgument, printJson } from '../common.js';
import { formatDuration, interruptSignal, ProgressReporter } from '../progress.js';

/** The CLI's summary of a finished training run, beside its checkpoint. */
const RESULT_FILE = 'result.json';

interface TrainArgs {
  force?: boolean;
  arch: string;
  dataset?: string;
  task?: 'classification' | 'segmentation';
  out: string;
  resume?: boolean;
  json?: boolean;
  backend: BackendName | 'auto';
  resolution?: number;
  classes?: number;
  epochs?: number;
  trainSamples?: number;
  validationSamples?: number;
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

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train a spec on an image dataset, with checkpoints, --resume and a progress bar',
  builder: (y) =>
    y
      .option('arch', { type: 'string', demandOption: true, describe: 'ArchSpec JSON, block-string document, or zoo model name' })
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
      .option('force', { type: 'boolean', describe: 'start over in an --out that already holds a run (its checkpoint is replaced)' })
      .option('json', { type: 'boolean', describe: 'print the result as one JSON line' })
      .options(backendOption)
      .option('resolution', {
        type: 'number',
        describe: "input resolution (default: 32 for fashion-mnist and cifar10, whose images are 28 and 32 px; the spec's otherwise)",
      })
      .option('classes', { type: 'number', describe: "classifier width (default: the dataset's class count)" })
      .option('epochs', { type: 'number' })
      .option('train-samples', { type: 'number', describe: 'use only the first N training images' })
      .option('validation-samples', { type: 'number', describe: 'validate on the first N validation images' })
      .option('batch-size', { type: 'number' })
      .option('seed', { type: 'number' })
      .option('optimizer', { choices: ['rmsprop', 'sgd'] as const })
      .option('lr', { type: 'number', describe: 'base learning rate' })
      .option('warmup-epochs', { type: 'number' })
      .option('schedule', { choices: ['cosine', 'exponential', 'constant'] as const })
      .option('momentum', { type: 'number' })
      .option('weight-decay', { type: 'number', describe: 'L2 on conv/dense kernels' })
      .option('label-smoothing', { type: 'number' })
      .option('bn-momentum', { type: 'number', describe: 'default: picked for the run length' })
      .option('ema', { type: 'number', describe: 'weight EMA decay for evaluation (off by default)' })
      .option('augment', { type: 'boolean', describe: 'random shifts and flips (--no-augment to turn off)' }) as never,
  handler: action<TrainArgs>(async (args, { log }) => {
    refuseExistingRun(args);
    const backend = await prepareBackend(args.backend);
    log.info(backend, 'backend');
    const config = trainConfig({
      epochs: args.epochs,
      batchSize: args.batchSize,
      trainSamples: args.trainSamples,
      validationSamples: args.validationSamples,
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
    });
    const base = atTrainingResolution(loadSpecArgument(args.arch, { resolution: args.resolution }), args, log);
    const task = base.task?.type ?? 'classification';
    if (args.task && args.task !== task) {
      throw new InputError(
        `${args.arch} is a ${task} network; --task ${args.task} needs a spec with ${args.task === 'segmentation' ? 'an LR-ASPP head (e.g. lraspp-mobilenetv3-small)' : 'a classifier head'}`,
      );
    }
    const dataset = loadDataset(args.dataset ?? (task === 'segmentation' ? 'fashion-mosaic' : 'fashion-mnist'), base.input.resolution);
    const classes = args.classes ?? dataset.classNames.length;
    const spec = classes === base.classes ? base : withInput(base, { classes }, args.arch);
    log.info({ spec: spec.name, dataset: dataset.name, task: spec.task?.type ?? 'classification' }, 'data');

    const progress = new ProgressReporter(log);
    const started = Date.now();
    let result: Awaited<ReturnType<typeof train>>;
    try {
      result = await train({
        spec,
        dataset,
        config,
        outDir: args.out,
        resume: args.resume,
        evaluateTest: true,
        log,
        signal: interruptSignal(log),
        onProgress: (p) => {
          const stepsDone = (p.epoch - 1) * p.stepsPerEpoch + p.step;
          warnOfLongRun(p, stepsDone, log);
          progress.update({
            fraction: stepsDone / (p.epochs * p.stepsPerEpoch),
            text: `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(3)} acc ${(100 * p.accuracy).toFixed(1)}% lr ${p.learningRate.toPrecision(2)} ${p.imagesPerSec.toFixed(0)} img/s ETA ${formatDuration(p.etaSeconds)}`,
            fields: { epoch: p.epoch, step: p.step, loss: p.loss, accuracy: p.accuracy, imagesPerSec: p.imagesPerSec },
          });
        },
      });
    } finally {
      progress.done();
    }
    const summary = {
      ...(task === 'segmentation' ? { metric: 'mean IoU' } : {}),
      top1: result.top1,
      valTop1: result.valTop1,
      epochs: result.epochs,
      imagesPerSec: result.imagesPerSec,
      backend: result.backend,
      params: result.params,
      madds: result.madds,
      checkpoint: result.checkpoint,
    };
    await writeJsonAtomic(path.join(args.out, RESULT_FILE), {
      schemaVersion: 1,
      kind: 'train-result',
      tool: TOOL_NAME,
      command: ['nas', ...process.argv.slice(2)].join(' '),
      seed: config.seed,
      spec: spec.name,
      dataset: dataset.name,
      config,
      threads: result.threads,
      wallSeconds: (Date.now() - started) / 1000,
      ...summary,
      history: result.history,
    });
    log.info(summary, 'trained');
    if (args.json) printJson(summary);
    else {
      const metric = task === 'segmentation' ? 'mean IoU' : 'top-1';
      process.stdout.write(
        `test ${metric} ${(100 * (result.top1 ?? 0)).toFixed(2)}%, validation ${metric} ${(100 * result.valTop1).toFixed(2)}%, ${result.imagesPerSec.toFixed(0)} img/s on ${result.backend}; checkpoint ${result.checkpoint}\n`,
      );
    }
  }),
};

/** A second `nas train --out X` would silently replace X's checkpoint: continue or overwrite only when asked. */
function refuseExistingRun(args: TrainArgs): void {
  if (args.resume || args.force) return;
  if (existsSync(path.join(args.out, CHECKPOINT_DIR)) || existsSync(path.join(args.out, RESULT_FILE))) {
    throw new InputError(
      `${args.out} already holds a training run: continue it with --resume, start over with --force, or choose a new --out`,
    );
  }
}

/**
 * The input size when --resolution is not given, for datasets of small images: their own size
 * rounded up to the network's total stride of 32 (Fashion-MNIST's 28 px and CIFAR-10's 32 px train
 * at 32). A zoo spec's 224 is its ImageNet deployment size; upscaling 28 px images to it makes a
 * run about 50 times slower and no more accurate.
 */
const NATURAL_RESOLUTION: Record<string, number> = { 'fashion-mnist': 32, cifar10: 32 };

function atTrainingResolution(spec: ArchSpec, args: TrainArgs, log: Logger): ArchSpec {
  if (args.resolution !== undefined || spec.task) return spec;
  const source = (args.dataset ?? 'fashion-mnist').split(':')[0]!;
  const natural = NATURAL_RESOLUTION[source];
  if (natural === undefined || spec.input.resolution <= natural) return spec;
  log.info(
    `training at ${natural}x${natural}, the size of ${source}'s images (the spec says ${spec.input.resolution}: pass --resolution ${spec.input.resolution} to train at it)`,
  );
  return withInput(spec, { resolution: natural }, args.arch);
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
