import type { CommandModule } from 'yargs';
import { InputError } from '../../common/errors.js';
import { formatShare } from '../../common/format.js';
import { defaultRunDir } from '../../common/run-dir-name.js';
import { readExperiment } from '../../controller/experiment.js';
import type { PipelineProgress } from '../../pipeline/pipeline.js';
import { PIPELINE_STAGES, type PipelineRecord } from '../../pipeline/pipeline-run.js';
import type { BackendName } from '../../trainer/backend-names.js';
import { action, examples, givenCommand, printJson } from '../common.js';
import { netadaptProgressLine } from '../netadapt-progress.js';
import { formatDuration, interruptSignal, type ProgressLine, ProgressReporter, trainingProgressLine } from '../progress.js';
import { searchProgressLine } from '../search-progress.js';
import { backendOption } from './train.js';

interface PipelineArgs {
  experiment?: string;
  out?: string;
  resume?: string;
  budget?: number;
  parallel?: number;
  backend: BackendName | 'auto';
  zoo: boolean;
  zooCache?: string;
  json?: boolean;
}

const EXAMPLES = examples([
  [
    '$0 pipeline --experiment experiments/pipeline-small.json --out runs/pipeline-small',
    'search, train, NetAdapt, evaluate and report, one stage after the other',
  ],
  ['$0 pipeline --resume runs/pipeline-small', 'continue after Ctrl-C or a crash, inside the stage it was in'],
  ['$0 pipeline --resume runs/pipeline-small --budget 64', 'extend the search to 64 trials; the later stages run again on its best'],
]);

export const pipelineCommand: CommandModule<object, PipelineArgs> = {
  command: 'pipeline',
  describe: "The paper's recipe as one resumable run: search, standalone training, NetAdapt with final training, test evaluation",
  builder: (y) =>
    y
      .example(EXAMPLES)
      .option('experiment', {
        type: 'string',
        describe: 'experiment file with a "pipeline" section (with --resume: checked against the pipeline\'s)',
      })
      .option('out', { type: 'string', describe: 'pipeline directory (default: runs/<experiment>-pipeline-<time>)' })
      .option('resume', { type: 'string', describe: 'continue the pipeline in this directory' })
      .option('budget', {
        type: 'number',
        describe: "the search's trials (with --resume: extends a finished search, its later stages run again on the new best)",
      })
      .option('parallel', {
        type: 'number',
        describe: "children trained at once, also NetAdapt's proposals (processes; with --resume: from now on)",
        defaultDescription: "the experiment's",
      })
      .options(backendOption)
      .option('zoo', {
        type: 'boolean',
        default: true,
        describe: 'train the zoo models within +-10% of the final latency for the report (cached; --no-zoo lists them untrained)',
      })
      .option('zoo-cache', { type: 'string', describe: 'cache of the zoo trainings, shared by pipelines (default: runs/zoo-cache)' })
      .option('json', { type: 'boolean', describe: 'print the pipeline record as one JSON line' }) as never,
  handler: action<PipelineArgs>(async (args, { log }) => {
    if (args.resume && args.out) throw new InputError('--resume DIR is the pipeline directory: drop --out');
    if (!args.resume && !args.experiment)
      throw new InputError('give --experiment FILE for a new pipeline, or --resume DIR to continue one');
    const experiment = args.experiment === undefined ? undefined : readExperiment(args.experiment);
    const outDir = args.resume ? undefined : (args.out ?? defaultRunDir(`${experiment!.name}-pipeline`));
    const { runPipeline } = await import('../../pipeline/pipeline.js');
    const progress = new ProgressReporter(log);
    const started = Date.now();
    const { dir, record, reportFile, report } = await runPipeline({
      experiment,
      experimentFile: args.experiment,
      outDir,
      resume: args.resume,
      budget: args.budget,
      parallel: args.parallel,
      backend: args.backend,
      trainZoo: args.zoo,
      zooCacheDir: args.zooCache,
      command: givenCommand(),
      log,
      signal: interruptSignal(log),
      onStage: (stage, r) => {
        progress.done();
        log.info({ stage, state: r.stages[stage].state }, 'pipeline stage');
      },
      onProgress: (p) => progress.update(stageProgressLine(p, started)),
    }).finally(() => progress.done());
    if (args.json) printJson({ ...record, report: reportFile });
    else
      process.stdout.write(
        `${stageSummary(dir, record)}report   ${reportFile} (${report.zoo.models.length} zoo models within +-${formatShare(report.zoo.window)} of the final latency)\n`,
      );
  }),
};

/** One line per stage: its state, wall time, directory and what it produced. */
/** The running stage's status line, as the command it runs shows it. */
function stageProgressLine(p: PipelineProgress, started: number): ProgressLine {
  if (p.stage === 'search') return searchProgressLine(p.progress, started);
  if (p.stage === 'train') return trainingProgressLine(p.progress, 'standalone training: ');
  return netadaptProgressLine(p.progress, started);
}

function stageSummary(dir: string, record: PipelineRecord): string {
  const lines = PIPELINE_STAGES.map((stage) => {
    const s = record.stages[stage];
    const outputs =
      s.reason ??
      Object.entries(s.outputs)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toFixed(4)) : v}`)
        .join(' ');
    return `${stage.padEnd(9)} ${s.state.padEnd(8)} ${formatDuration(s.wallSeconds).padStart(7)}  ${s.dir ?? '-'}  ${outputs}`;
  });
  return `pipeline ${dir}\n${lines.join('\n')}\n`;
}
