import type { CommandModule } from 'yargs';
import { ORACLE_MISSING, type OracleMissing } from '../../latency-model/predict/oracle-missing.js';
import { NETADAPT_DEFAULTS as D } from '../../netadapt/defaults.js';
import type { SelectionMetric } from '../../netadapt/netadapt.js';
import type { NetAdaptSummary } from '../../netadapt/netadapt-run.js';
import type { BackendName } from '../../trainer/backend-names.js';
import { action, examples, loadSpecArgument, printJson } from '../common.js';
import { netadaptProgressLine } from '../netadapt-progress.js';
import { interruptSignal, ProgressReporter } from '../progress.js';
import { backendOption } from './train.js';

interface NetAdaptArgs {
  arch?: string;
  checkpoint?: string;
  table?: string;
  targetMs?: number;
  targetRatio?: number;
  deltaRatio?: number;
  deltaDecay?: number;
  finetuneSteps?: number;
  metric?: SelectionMetric;
  out: string;
  resume?: boolean;
  json?: boolean;
  dataset?: string;
  parallel: number;
  latencyResolution?: number;
  latencyClasses?: number;
  latencyMissing?: OracleMissing;
  validationSamples?: number;
  lr?: number;
  finalEpochs?: number;
  finalSamples?: number;
  fromScratch?: boolean;
  seed?: number;
  backend: BackendName | 'auto';
}

const EXAMPLES = examples([
  ['$0 netadapt --checkpoint runs/s/train --target-ratio 0.75 --out runs/na', 'shrink a trained search result to 75% of its latency'],
  [
    '$0 netadapt --arch mobilenetv3-small-1.0 --checkpoint runs/s1 --target-ms 10 --final-epochs 5 --out na10',
    'to 10 ms on the table, then 5 more epochs for the result',
  ],
  ['$0 netadapt --out runs/na --resume', "continue after Ctrl-C (the run's seed, table and settings are in it)"],
]);

/** The fine-tunes' and the final training's settings (a new run's defaults: a resume takes the run's own). */
const trainingOptions = {
  'validation-samples': {
    type: 'number',
    defaultDescription: String(D.validationSamples),
    describe: 'validation images scoring each proposal',
  },
  lr: { type: 'number', describe: 'fine-tuning learning rate (SGD)', defaultDescription: '0.01' },
  'final-epochs': {
    type: 'number',
    defaultDescription: String(D.finalEpochs),
    describe: 'long fine-tune of the result (epochs on the full training split)',
  },
  'final-samples': {
    type: 'number',
    describe: 'the long fine-tune uses only the first N training images',
    defaultDescription: 'all',
  },
  'from-scratch': { type: 'boolean', describe: 'train the result from scratch for --final-epochs instead of fine-tuning it' },
  seed: { type: 'number', defaultDescription: String(D.seed), describe: 'seed of the fine-tunes and the final training' },
} as const;

export const netadaptCommand: CommandModule<object, NetAdaptArgs> = {
  command: 'netadapt',
  describe: 'Shrink a trained seed step by step (expansion widths, bottleneck widths, layers) to a latency target',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .option('arch', {
        type: 'string',
        describe:
          "the seed spec (default: the one its checkpoint holds; one differing only in resolution and classes is taken at the checkpoint's)",
      })
      .option('checkpoint', {
        type: 'string',
        describe: "the seed's trained run or checkpoint directory (required unless --resume, which continues the run in --out)",
      })
      .option('table', {
        type: 'string',
        describe: 'latency table',
        defaultDescription: "the one the seed's provenance.deployment names (a search's find), else the embedded one",
      })
      .option('target-ms', { type: 'number', describe: 'latency target in ms' })
      .option('target-ratio', { type: 'number', describe: "latency target as a fraction of the seed's" })
      .option('delta-ratio', {
        type: 'number',
        defaultDescription: String(D.deltaRatio),
        describe: "minimum latency cut per step, as a fraction of the seed's latency",
      })
      .option('delta-decay', {
        type: 'number',
        defaultDescription: String(D.deltaDecay),
        describe: 'per-step decay of delta (the original NetAdapt: 0.96)',
      })
      .option('finetune-steps', {
        type: 'number',
        defaultDescription: String(D.finetuneSteps),
        describe: 'short fine-tune of each proposal, in training steps',
      })
      .option('metric', {
        choices: ['ratio', 'accuracy'] as const,
        defaultDescription: D.metric,
        describe: 'ratio: max dAcc/|dLatency| (MobileNetV3; a cut counts only up to the target); accuracy: max accuracy (NetAdapt)',
      })
      .option('out', { type: 'string', demandOption: true, describe: 'run directory (history, proposals, final.json, summary.json)' })
      .option('resume', {
        type: 'boolean',
        describe: 'continue the run in --out with its own seed, table and settings (only --parallel may change)',
      })
      .option('json', { type: 'boolean', describe: 'print the summary as one JSON line' })
      .option('dataset', {
        type: 'string',
        describe: 'what the proposals are fine-tuned and scored on',
        defaultDescription: 'the dataset the seed checkpoint trained on',
      })
      .option('parallel', { type: 'number', default: 2, describe: 'proposals fine-tuned at once (processes; with --resume: from now on)' })
      .option('latency-resolution', {
        type: 'number',
        describe: 'resolution of the deployed model whose latency counts',
        defaultDescription: "the seed's provenance.deployment (a search's find), else 224",
      })
      .option('latency-classes', {
        type: 'number',
        describe: 'classifier width of the deployed model',
        defaultDescription: "the seed's provenance.deployment, else 1000",
      })
      .option('latency-missing', {
        choices: ORACLE_MISSING,
        defaultDescription: D.latencyMissing,
        describe:
          "ops the table lacks (the widths NetAdapt produces): measure here, estimate (the table's estimator), interpolate; auto: as the seed was priced when its provenance says so (a search with latency.missing estimate), else measure when the table was profiled here, else estimate",
      })
      .options(trainingOptions)
      .options(backendOption)
      .check((argv) =>
        argv.checkpoint === undefined && !argv.resume ? 'missing --checkpoint (only --resume takes the seed from the run in --out)' : true,
      ) as never,
  handler: action<NetAdaptArgs>(async (args, { log }) => {
    const progress = new ProgressReporter(log);
    const started = Date.now();
    const { runNetAdaptJob } = await import('../../netadapt/netadapt-job.js');
    let summary: NetAdaptSummary;
    try {
      summary = await runNetAdaptJob({
        seed: args.arch === undefined ? undefined : loadSpecArgument(args.arch),
        seedCheckpoint: args.checkpoint,
        table: args.table,
        settings: {
          targetMs: args.targetMs,
          targetRatio: args.targetRatio,
          deltaRatio: args.deltaRatio,
          deltaDecay: args.deltaDecay,
          metric: args.metric,
          latencyResolution: args.latencyResolution,
          latencyClasses: args.latencyClasses,
          latencyMissing: args.latencyMissing,
        },
        dataset: args.dataset,
        finetune: {
          steps: args.finetuneSteps,
          validationSamples: args.validationSamples,
          learningRate: args.lr,
          seed: args.seed,
          parallel: args.parallel,
        },
        final: { epochs: args.finalEpochs, fromScratch: args.fromScratch, trainSamples: args.finalSamples },
        backend: args.backend,
        outDir: args.out,
        resume: args.resume,
        log,
        signal: interruptSignal(log),
        onProgress: (p) => progress.update(netadaptProgressLine(p, started)),
      });
    } finally {
      progress.done();
    }
    if (args.json) printJson(summary);
    else
      process.stdout.write(
        `${summary.steps} steps: ${summary.seedLatencyMs.toFixed(2)} -> ${summary.finalLatencyMs.toFixed(2)} ms, validation top-1 ${(100 * summary.seedAccuracy).toFixed(2)}% -> ${(100 * summary.finalAccuracy).toFixed(2)}%; ${summary.spec}\n`,
      );
  }),
};
