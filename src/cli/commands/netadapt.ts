import path from 'node:path';
import type { CommandModule } from 'yargs';
import { InputError } from '../../common/errors.js';
import { writeJsonAtomic } from '../../common/json-io.js';
import { loadTable } from '../../latency-model/predict/load-table.js';
import { runNetAdapt, type SelectionMetric } from '../../netadapt/netadapt.js';
import { type BackendName, prepareBackend } from '../../trainer/backend.js';
import { loadCheckpoint } from '../../trainer/checkpoint.js';
import { trainConfig } from '../../trainer/config.js';
import { loadDataset } from '../../trainer/data/index.js';
import { train } from '../../trainer/train.js';
import { TrainingPool } from '../../trainer/training-pool.js';
import { action, loadSpecArgument, printJson } from '../common.js';
import { formatDuration, interruptSignal, ProgressReporter } from '../progress.js';
import { backendOption } from './train.js';

interface NetAdaptArgs {
  arch: string;
  checkpoint: string;
  table?: string;
  targetMs?: number;
  targetRatio?: number;
  deltaRatio: number;
  deltaDecay: number;
  finetuneSteps: number;
  metric: SelectionMetric;
  out: string;
  resume?: boolean;
  json?: boolean;
  dataset: string;
  parallel: number;
  latencyResolution: number;
  latencyClasses: number;
  validationSamples: number;
  lr?: number;
  finalEpochs: number;
  fromScratch?: boolean;
  seed: number;
  backend: BackendName | 'auto';
}

export const netadaptCommand: CommandModule<object, NetAdaptArgs> = {
  command: 'netadapt',
  describe: 'Shrink a trained seed step by step (expansion widths, bottleneck widths, layers) to a latency target',
  builder: (y) =>
    y
      .option('arch', { type: 'string', demandOption: true, describe: 'the seed spec (what its checkpoint was trained from)' })
      .option('checkpoint', { type: 'string', demandOption: true, describe: "the seed's trained run or checkpoint directory" })
      .option('table', { type: 'string', describe: 'latency table (default: the embedded one)' })
      .option('target-ms', { type: 'number', describe: 'latency target in ms' })
      .option('target-ratio', { type: 'number', describe: "latency target as a fraction of the seed's" })
      .option('delta-ratio', {
        type: 'number',
        default: 0.01,
        describe: "minimum latency cut per step, as a fraction of the seed's latency",
      })
      .option('delta-decay', { type: 'number', default: 1, describe: 'per-step decay of delta (the original NetAdapt: 0.96)' })
      .option('finetune-steps', { type: 'number', default: 100, describe: 'short fine-tune of each proposal, in training steps' })
      .option('metric', {
        choices: ['ratio', 'accuracy'] as const,
        default: 'ratio' as const,
        describe: 'ratio: max dAcc/|dLatency| (MobileNetV3); accuracy: max accuracy (NetAdapt)',
      })
      .option('out', { type: 'string', demandOption: true })
      .option('resume', { type: 'boolean' })
      .option('json', { type: 'boolean' })
      .option('dataset', { type: 'string', default: 'fashion-mnist' })
      .option('parallel', { type: 'number', default: 2, describe: 'proposals fine-tuned at once (processes)' })
      .option('latency-resolution', { type: 'number', default: 224, describe: 'resolution of the deployed model whose latency counts' })
      .option('latency-classes', { type: 'number', default: 1000, describe: 'classifier width of the deployed model' })
      .option('validation-samples', { type: 'number', default: 2000, describe: 'validation images scoring each proposal' })
      .option('lr', { type: 'number', describe: 'fine-tuning learning rate (default: 0.01 SGD)' })
      .option('final-epochs', { type: 'number', default: 0, describe: 'long fine-tune of the result (epochs on the full training split)' })
      .option('from-scratch', { type: 'boolean', describe: 'train the result from scratch for --final-epochs instead of fine-tuning it' })
      .option('seed', { type: 'number', default: 0 })
      .options(backendOption) as never,
  handler: action<NetAdaptArgs>(async (args, { log }) => {
    if ((args.targetMs === undefined) === (args.targetRatio === undefined))
      throw new InputError('give exactly one of --target-ms and --target-ratio');
    if (args.targetRatio !== undefined && !(args.targetRatio > 0 && args.targetRatio < 1))
      throw new InputError(`--target-ratio must be between 0 and 1, got ${args.targetRatio}`);
    await prepareBackend(args.backend);
    const seed = loadSpecArgument(args.arch);
    const table = loadTable(args.table);
    const dataset = loadDataset(args.dataset, seed.input.resolution);
    const finetune = trainConfig({
      epochs: 1,
      trainSamples: args.finetuneSteps * 32,
      batchSize: 32,
      validationSamples: args.validationSamples,
      learningRate: args.lr ?? 0.01,
      warmupEpochs: 0,
      seed: args.seed,
      augment: false,
    });
    const pool = new TrainingPool({
      dataset: args.dataset,
      resolution: seed.input.resolution,
      config: finetune,
      parallel: args.parallel,
      backend: args.backend,
      log,
    });
    const progress = new ProgressReporter(log);
    const started = Date.now();
    let result: Awaited<ReturnType<typeof runNetAdapt>>;
    try {
      result = await runNetAdapt({
        seed,
        seedCheckpoint: args.checkpoint,
        table,
        settings: {
          targetMs: args.targetMs,
          targetRatio: args.targetRatio,
          deltaRatio: args.deltaRatio,
          deltaDecay: args.deltaDecay,
          metric: args.metric,
          latencyResolution: args.latencyResolution,
          latencyClasses: args.latencyClasses,
        },
        dataset,
        finetune,
        evaluator: pool,
        outDir: args.out,
        resume: args.resume,
        log,
        signal: interruptSignal(log),
        onProgress: (p) =>
          progress.update({
            fraction: p.proposalsDone / p.proposals,
            text: `step ${p.step}: ${p.latencyMs.toFixed(2)} -> ${p.targetMs.toFixed(2)} ms, accuracy ${(100 * p.accuracy).toFixed(1)}%, proposals ${p.proposalsDone}/${p.proposals} ${formatDuration((Date.now() - started) / 1000)}`,
            fields: { step: p.step, latencyMs: p.latencyMs, proposalsDone: p.proposalsDone },
          }),
      });
    } finally {
      progress.done();
      await pool.close();
    }
    let finalAccuracy = result.finalAccuracy;
    let finalCheckpoint = result.finalCheckpoint;
    let testTop1: number | null = null;
    if (args.finalEpochs > 0) {
      const inherited = args.fromScratch ? undefined : loadCheckpoint(result.finalCheckpoint, (d) => d).weights;
      const long = await train({
        spec: result.final,
        dataset,
        config: trainConfig({ epochs: args.finalEpochs, seed: args.seed, validationSamples: args.validationSamples }),
        outDir: path.join(args.out, 'final'),
        initialWeights: inherited,
        evaluateTest: true,
        log,
      });
      finalAccuracy = long.valTop1;
      finalCheckpoint = long.checkpoint!;
      testTop1 = long.top1;
    }
    const summary = {
      steps: result.history.steps.length,
      seedLatencyMs: result.history.seedLatencyMs,
      finalLatencyMs: result.finalLatencyMs,
      seedAccuracy: result.history.seedAccuracy,
      finalAccuracy,
      spec: path.join(args.out, 'final.json'),
    };
    await writeJsonAtomic(path.join(args.out, 'summary.json'), {
      schemaVersion: 1,
      kind: 'netadapt-summary',
      ...summary,
      targetMs: result.history.targetMs,
      finalCheckpoint,
      testTop1,
      metric: args.metric,
      seed: args.seed,
      wallSeconds: (Date.now() - started) / 1000,
    });
    log.info({ ...summary, finalCheckpoint }, 'netadapt finished');
    if (args.json) printJson(summary);
    else
      process.stdout.write(
        `${summary.steps} steps: ${summary.seedLatencyMs.toFixed(2)} -> ${summary.finalLatencyMs.toFixed(2)} ms, validation top-1 ${(100 * summary.seedAccuracy).toFixed(2)}% -> ${(100 * finalAccuracy).toFixed(2)}%; ${summary.spec}\n`,
      );
  }),
};
