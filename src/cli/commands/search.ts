import path from 'node:path';
import type { CommandModule } from 'yargs';
import { commandLine } from '../../common/command-line.js';
import { InputError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { defaultRunDir } from '../../common/run-dir-name.js';
import { PROJECT_ROOT } from '../../common/version.js';
import { DEFAULT_EXPERIMENT_FILE, type Experiment, failureSource, readExperiment, withOverrides } from '../../controller/experiment.js';
import type { SearchSummary } from '../../controller/report.js';
import type { SearchSetup } from '../../controller/setup.js';
import { describeTableRef } from '../../latency-model/predict/table-ref.js';
import type { BackendName } from '../../trainer/backend-names.js';
import { action, examples, givenCommand, printJson } from '../common.js';
import { asTheUserRunsIt } from '../invocation.js';
import { formatDuration, interruptSignal, ProgressReporter } from '../progress.js';
import { searchProgressLine } from '../search-progress.js';
import { backendOption } from './train.js';

interface SearchArgs {
  experiment?: string;
  budget?: number;
  seed?: number;
  algorithm?: Experiment['algorithm'];
  out?: string;
  resume?: string;
  parallel?: number;
  table?: string;
  backend: BackendName | 'auto';
  json?: boolean;
}

async function experimentFor(args: SearchArgs, log: Logger): Promise<Experiment> {
  let experiment: Experiment;
  if (args.resume && !args.experiment) {
    const { SearchRunDir } = await import('../../controller/search-run.js');
    experiment = new SearchRunDir(args.resume).readRecord().experiment;
  } else {
    experiment = readExperiment(args.experiment ?? DEFAULT_EXPERIMENT_FILE);
  }
  const overridden = withOverrides(experiment, args);
  for (const warning of overridden.ignored) log.warn(warning);
  return overridden.experiment;
}

/** The file the experiment's fields come from, named in their errors: none for a run's record, or with --table replacing its table. */
function experimentFileOf(args: SearchArgs): string | undefined {
  if (args.resume && !args.experiment) return undefined;
  return failureSource(args.experiment ?? DEFAULT_EXPERIMENT_FILE, args.table);
}

const EXAMPLES = examples([
  ['$0 search', 'the embedded default experiment (experiments/default.json) to completion'],
  ['$0 search --resume runs/default-2026-01-01T12-00-00', 'continue a search after Ctrl-C or a crash'],
  ['$0 search --experiment experiments/ofa-note10.json --table note10.json', "Once-for-All's space priced by its imported Note10 table"],
]);

/** The embedded default experiment, read once for the options' defaults. */
let embeddedDefault: Experiment | undefined;

/** `[default: ...]` of an option whose default is the experiment's, with the embedded default's value. */
function experimentDefault(field: 'budget' | 'algorithm' | 'seed' | 'parallel'): { defaultDescription: string } {
  embeddedDefault ??= readExperiment(DEFAULT_EXPERIMENT_FILE);
  const value = embeddedDefault[field];
  return { defaultDescription: `the experiment's (${value} in ${path.relative(PROJECT_ROOT, DEFAULT_EXPERIMENT_FILE)})` };
}

export const searchCommand: CommandModule<object, SearchArgs> = {
  command: 'search',
  describe: 'Run a platform-aware architecture search (default: the embedded experiment, experiments/default.json)',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .option('experiment', { type: 'string', describe: 'experiment file (default: experiments/default.json)' })
      .option('budget', {
        type: 'number',
        describe: 'number of trials (with --resume: extends the run to this many)',
        ...experimentDefault('budget'),
      })
      .option('algorithm', {
        choices: ['ppo', 'reinforce', 'random'] as const,
        describe: "override the experiment's algorithm (e.g. random search as a baseline)",
        ...experimentDefault('algorithm'),
      })
      .option('seed', { type: 'number', describe: "the run's random seed", ...experimentDefault('seed') })
      .option('out', { type: 'string', describe: 'run directory (default: runs/<experiment>-<time>)' })
      .option('resume', { type: 'string', describe: 'continue the run in this directory' })
      .option('parallel', {
        type: 'number',
        describe: 'children trained at once (processes; with --resume: from now on)',
        ...experimentDefault('parallel'),
      })
      .option('table', {
        type: 'string',
        describe:
          "latency table file or name in tables/ pricing the search, instead of the experiment's (e.g. one imported with nas table import)",
      })
      .options(backendOption)
      .option('json', { type: 'boolean', describe: 'print the result as one JSON line' }) as never,
  handler: action<SearchArgs>(async (args, { log }) => {
    if (args.resume && args.out && path.resolve(args.out) !== path.resolve(args.resume))
      throw new InputError('--resume DIR is the run directory: drop --out');
    const experiment = await experimentFor(args, log);
    const runDir = args.resume ?? args.out ?? defaultRunDir(experiment.name);
    const progress = new ProgressReporter(log);
    const started = Date.now();
    const { runSearchJob } = await import('../../controller/search-job.js');
    let summary: SearchSummary;
    try {
      summary = await runSearchJob({
        experiment,
        experimentFile: experimentFileOf(args),
        runDir,
        resume: Boolean(args.resume),
        backend: args.backend,
        command: givenCommand(),
        log,
        signal: interruptSignal(log),
        onSetup: (setup) => logSetup(log, experiment, setup, runDir),
        onProgress: (p) => progress.update(searchProgressLine(p, started)),
      });
    } finally {
      progress.done();
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
    log.info({ ...result, wallSeconds: summary.wallSeconds, sessionWallSeconds: summary.sessionWallSeconds }, 'search finished');
    if (args.json) printJson(result);
    else if (summary.best) {
      const trainArgs = ['--arch', summary.best.spec, '--dataset', experiment.proxy.dataset];
      // Neither score is what the model reaches trained alone: say which one it is.
      const scoredBy =
        experiment.evaluator === 'supernet' ? 'validation top-1, inherited supernet weights' : 'validation top-1 after proxy training';
      process.stdout.write(
        asTheUserRunsIt(
          `${summary.trials} trials in ${formatDuration(summary.wallSeconds)}${args.resume ? ` (this resume ${formatDuration(summary.sessionWallSeconds)})` : ''}: best ${(100 * summary.best.accuracy).toFixed(2)}% (${scoredBy}) at ${summary.best.latencyMs.toFixed(2)} ms (reward ${summary.best.reward.toFixed(4)}), ${summary.best.spec}\n` +
            // Not the fine-tune from best-weights: for the default's find it trained no better than from scratch, at the same cost (results/supernet.md).
            `train it standalone: ${commandLine(['nas', 'train', ...trainArgs, '--out', path.join(runDir, 'train')])}\n`,
        ),
      );
    }
  }),
};

function logSetup(log: Logger, experiment: Experiment, setup: SearchSetup, runDir: string): void {
  log.info(
    {
      experiment: experiment.name,
      space: setup.space.name,
      algorithm: experiment.algorithm,
      budget: experiment.budget,
      targetMs: Number(setup.rewardSettings.targetMs.toFixed(3)),
      fastestMs: Number(setup.fastestMs.toFixed(3)),
      table: describeTableRef(setup.tableRef),
      runDir,
    },
    'search',
  );
  const { estimated, caveats } = setup.estimated;
  if (estimated.length)
    log.info(
      { estimatedOps: estimated.length, table: setup.table.name },
      `${estimated.length} ops of the space are not in table ${setup.table.name}: priced by its estimator (latency.missing: "estimate")`,
    );
  if (caveats.length) log.warn(`the estimator cannot know every cost of the space on table ${setup.table.name}: ${caveats.join('; ')}`);
}
