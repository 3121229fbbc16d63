import path from 'node:path';
import type { CommandModule } from 'yargs';
import { InputError } from '../../common/errors.js';
import { DEFAULT_EXPERIMENT_FILE, type Experiment, parseExperiment, readExperiment } from '../../controller/experiment.js';
import { runSearch } from '../../controller/search.js';
import { SearchRunDir } from '../../controller/search-run.js';
import { proxyTrainConfig, setupSearch } from '../../controller/setup.js';
import { type BackendName, prepareBackend } from '../../trainer/backend.js';
import { loadDataset } from '../../trainer/data/index.js';
import { TrainingPool } from '../../trainer/training-pool.js';
import { action, printJson } from '../common.js';
import { formatDuration, interruptSignal, ProgressReporter } from '../progress.js';
import { backendOption } from './train.js';

interface SearchArgs {
  experiment?: string;
  budget?: number;
  seed?: number;
  algorithm?: Experiment['algorithm'];
  out?: string;
  resume?: string;
  parallel?: number;
  backend: BackendName | 'auto';
  json?: boolean;
}

function experimentFor(args: SearchArgs): Experiment {
  let experiment: Experiment;
  if (args.resume && !args.experiment) {
    experiment = new SearchRunDir(args.resume).readRecord().experiment;
  } else {
    experiment = readExperiment(args.experiment ?? DEFAULT_EXPERIMENT_FILE);
  }
  return parseExperiment(
    {
      ...experiment,
      algorithm: args.algorithm ?? experiment.algorithm,
      budget: args.budget ?? experiment.budget,
      seed: args.seed ?? experiment.seed,
      parallel: args.parallel ?? experiment.parallel,
    },
    'experiment with command-line overrides',
  );
}

export const searchCommand: CommandModule<object, SearchArgs> = {
  command: 'search',
  describe: 'Run a platform-aware architecture search (default: the embedded experiment, experiments/default.json)',
  builder: (y) =>
    y
      .option('experiment', { type: 'string', describe: 'experiment file (default: experiments/default.json)' })
      .option('budget', { type: 'number', describe: 'number of trials' })
      .option('algorithm', {
        choices: ['ppo', 'reinforce', 'random'] as const,
        describe: "override the experiment's algorithm (e.g. random search as a baseline)",
      })
      .option('seed', { type: 'number' })
      .option('out', { type: 'string', describe: 'run directory (default: runs/<experiment>-<time>)' })
      .option('resume', { type: 'string', describe: 'continue the run in this directory' })
      .option('parallel', { type: 'number', describe: 'children trained at once (processes)' })
      .options(backendOption)
      .option('json', { type: 'boolean' }) as never,
  handler: action<SearchArgs>(async (args, { log }) => {
    if (args.resume && args.out && path.resolve(args.out) !== path.resolve(args.resume))
      throw new InputError('--resume DIR is the run directory: drop --out');
    const experiment = experimentFor(args);
    const runDir =
      args.resume ?? args.out ?? path.join('runs', `${experiment.name}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
    await prepareBackend(args.backend);
    const dataset = loadDataset(experiment.proxy.dataset, experiment.proxy.resolution);
    const setup = setupSearch(experiment, dataset.classNames.length);
    log.info(
      {
        experiment: experiment.name,
        space: setup.space.name,
        algorithm: experiment.algorithm,
        budget: experiment.budget,
        targetMs: Number(setup.rewardSettings.targetMs.toFixed(3)),
        fastestMs: Number(setup.fastestMs.toFixed(3)),
        runDir,
      },
      'search',
    );
    const config = proxyTrainConfig(experiment);
    const evaluator = new TrainingPool({
      dataset: experiment.proxy.dataset,
      resolution: experiment.proxy.resolution,
      config,
      parallel: experiment.parallel,
      backend: args.backend,
      log,
    });
    const progress = new ProgressReporter(log);
    const started = Date.now();
    let summary: Awaited<ReturnType<typeof runSearch>>;
    try {
      summary = await runSearch(
        {
          experiment,
          runDir,
          resume: Boolean(args.resume),
          evaluator,
          command: ['nas', ...process.argv.slice(2)].join(' '),
          log,
          signal: interruptSignal(log),
          onProgress: ({ trials, budget, best, last }) => {
            const elapsed = (Date.now() - started) / 1000;
            progress.update({
              fraction: trials / budget,
              text: `trial ${trials}/${budget} best reward ${best!.reward.toFixed(4)} (${(100 * best!.accuracy).toFixed(1)}% at ${best!.latencyMs.toFixed(1)} ms) last ${(100 * last.accuracy).toFixed(1)}% ${last.latencyMs.toFixed(1)} ms ${formatDuration(elapsed)}`,
              fields: { trials, bestReward: best!.reward, bestAccuracy: best!.accuracy, bestLatencyMs: best!.latencyMs },
            });
          },
        },
        setup,
      );
    } finally {
      progress.done();
      await evaluator.close();
    }
    const result = {
      trials: summary.trials,
      best: summary.best && {
        accuracy: summary.best.accuracy,
        latencyMs: summary.best.latencyMs,
        reward: summary.best.reward,
        spec: summary.best.spec,
      },
      runDir,
    };
    log.info({ ...result, wallSeconds: summary.wallSeconds }, 'search finished');
    if (args.json) printJson(result);
    else if (summary.best)
      process.stdout.write(
        `${summary.trials} trials in ${formatDuration(summary.wallSeconds)}: best ${(100 * summary.best.accuracy).toFixed(2)}% at ${summary.best.latencyMs.toFixed(2)} ms (reward ${summary.best.reward.toFixed(4)}), ${summary.best.spec}\n`,
      );
  }),
};
