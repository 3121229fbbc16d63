/**
 * The `nas pipeline` job: the paper's recipe as one resumable run. Stages: the search, the
 * standalone training of its best architecture, NetAdapt toward the pipeline's target on the same
 * table (pipeline.netadapt.targetMs, by default the reward's; skipped when the trained model
 * already meets it within the tolerance; its result's final training is NetAdapt's own, in
 * netadapt/final/), and the test-split evaluation of the final model. Each stage runs through its
 * command's library job in its own run directory (pipeline-run.ts); a stage whose directory holds a
 * run is continued, a finished one is not redone.
 * After the last stage the closing report is written (pipeline-report.ts).
 */
import path from 'node:path';
import { commandLine, resumeCommand } from '../common/command-line.js';
import { InputError, InterruptedError } from '../common/errors.js';
import { formatShare } from '../common/format.js';
import { type Logger, silentLogger } from '../common/log.js';
import { withRunLock } from '../common/run-lock.js';
import { saveEvery, WALL_TIME_SAVE_MS } from '../common/wall-time.js';
import type { Experiment, PipelineSettings } from '../controller/experiment.js';
import { runSearchJob, type SearchJobProgress } from '../controller/search-job.js';
import { SearchRunDir } from '../controller/search-run.js';
import { resolveTargetMs, setupSearch } from '../controller/setup.js';
import { profiledOnThisCpu } from '../latency-model/predict/oracle.js';
import { deployedLatencyMs } from '../latency-model/predict/predict.js';
import { type TableRef, tableChange } from '../latency-model/predict/table-ref.js';
import type { LatencyTable } from '../latency-model/predict/table-schema.js';
import type { NetAdaptSettings } from '../netadapt/netadapt.js';
import { type NetAdaptJobProgress, runNetAdaptJob } from '../netadapt/netadapt-job.js';
import { NetAdaptRunDir } from '../netadapt/netadapt-run.js';
import { readArchSpec, withInput } from '../search-space/io.js';
import { specHash } from '../search-space/spec-hash.js';
import { prepareBackend } from '../trainer/backend.js';
import type { BackendName } from '../trainer/backend-names.js';
import { resolveCheckpointDir } from '../trainer/checkpoint.js';
import type { TrainProgress } from '../trainer/train.js';
import { TrainRunDir } from '../trainer/train-run.js';
import { measureOnThisMachine } from './measured-latency.js';
import { DEFAULT_ZOO_SETTINGS, type PipelineReport, pipelineReference, pipelineTarget, writePipelineReport } from './pipeline-report.js';
import { PIPELINE_STAGES, type PipelineRecord, type PipelineRunDir, type PipelineStage } from './pipeline-run.js';
import { openPipeline, type PipelineStart, reinstateIfBestUnchanged } from './pipeline-start.js';
import { DEFAULT_ZOO_CACHE_DIR, recipeTrainCommand, trainWithRecipe } from './zoo-cache.js';

/** A stage's progress: the search's (trials, or the supernet's steps), the standalone training's, NetAdapt's. */
export type PipelineProgress =
  | { stage: 'search'; progress: SearchJobProgress }
  | { stage: 'train'; progress: TrainProgress }
  | { stage: 'netadapt'; progress: NetAdaptJobProgress };

/** What `nas pipeline` asks: the pipeline to open (a new one, or one to resume: pipeline-start.ts) and how to run it. */
export interface PipelineRequest extends PipelineStart {
  backend: BackendName | 'auto';
  /** Train the zoo models of the closing report (default true; false lists them untrained, as the section's zoo.train: false). */
  trainZoo?: boolean | undefined;
  /** Where the zoo trainings are cached (default runs/zoo-cache). */
  zooCacheDir?: string | undefined;
  /** Called when a stage starts and when it ends. */
  onStage?: (stage: PipelineStage, record: PipelineRecord) => void;
  /** The running stage's progress, as the command that stage runs reports it. */
  onProgress?: (p: PipelineProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

export interface PipelineResult {
  dir: string;
  record: PipelineRecord;
  /** The closing report (report.json; report.md and report.svg beside it). */
  reportFile: string;
  report: PipelineReport;
}

/** What a stage's work returns: its outputs, or the reason it was skipped. */
interface StageOutcome {
  outputs: Record<string, unknown>;
  skipped?: string;
}

/** A stage ready to run: its inputs (files and checkpoint directories), its command and its work. */
interface StageWork {
  inputs: string[];
  command: string;
  run: () => Promise<StageOutcome>;
}

interface PipelineContext {
  request: PipelineRequest;
  run: PipelineRunDir;
  record: PipelineRecord;
  settings: PipelineSettings;
  table: LatencyTable;
  /** pipelineTarget in ms on the table: NetAdapt cuts toward it, the evaluation and the report judge by it. */
  targetMs: number;
  log: Logger;
}

/** Runs (or continues) a pipeline to its end; returns its directory and record (also pipeline.json). */
export function runPipeline(request: PipelineRequest): Promise<PipelineResult> {
  const dir = request.resume ?? request.outDir;
  return dir ? withRunLock(dir, 'nas pipeline', () => pipeline(request)) : pipeline(request);
}

async function pipeline(request: PipelineRequest): Promise<PipelineResult> {
  const log = request.log ?? silentLogger;
  // The table, the targets and the report's reference are checked before a new pipeline writes anything.
  const check = (experiment: Experiment, source?: string) => {
    const setup = setupSearch(experiment, experiment.latency.classes, source);
    pipelineReference(experiment);
    return {
      table: setup.table,
      tableRef: setup.tableRef,
      targetMs: resolveTargetMs(pipelineTarget(experiment), experiment, setup.table),
    };
  };
  const { run, record, settings } = await openPipeline(request, (experiment) => check(experiment, request.experimentFile));
  run.checkInputs(record);
  const { table, tableRef, targetMs } = check(record.experiment);
  refuseTableChangedSinceSearch(run, record, tableRef);
  const context: PipelineContext = { request, run, record, settings, table, targetMs, log };
  for (const stage of PIPELINE_STAGES) {
    if (stage === 'train' && (await reinstateIfBestUnchanged(run, record)))
      log.info(
        'the extended search kept its best architecture: the later stages are moved back, a finished one not redone, an unfinished one resumed',
      );
    const state = record.stages[stage].state;
    if (state === 'done' || state === 'skipped') {
      log.info({ stage, state }, 'stage finished before: not redone');
      continue;
    }
    await runStage(context, stage, STAGE_WORK[stage](context));
  }
  try {
    const { file, report } = await writeReport(context);
    return { dir: run.dir, record, reportFile: file, report };
  } catch (err) {
    if (err instanceof InterruptedError)
      throw new InterruptedError(
        `the report's zoo training stopped with its progress saved; continue with ${resumeCommand('pipeline', run.dir)}`,
        {
          cause: err,
        },
      );
    throw err;
  }
}

/**
 * NetAdapt and the evaluation price on the table the search priced on: a table edited after the
 * search is refused while either is still to run. Once they are done, a resume only rewrites the
 * report, which may take a table with more zoo models profiled.
 */
function refuseTableChangedSinceSearch(run: PipelineRunDir, record: PipelineRecord, table: TableRef): void {
  const pricingLeft = (['netadapt', 'evaluate'] as const).some((stage) => !['done', 'skipped'].includes(record.stages[stage].state));
  const search = new SearchRunDir(run.stageDir('search'));
  if (record.stages.search.state !== 'done' || !pricingLeft || !search.isRun()) return;
  const changed = tableChange(search.readRecord().table, table);
  if (changed)
    throw new InputError(
      `the search of ${run.dir} ${changed}, and NetAdapt and the evaluation would price on the new one: restore that table, or start a new pipeline with --out`,
    );
}

/** The closing report, its zoo trainings taken from (or added to) the cache. */
function writeReport(context: PipelineContext): Promise<{ file: string; report: PipelineReport }> {
  const { request, run, record, settings, table, targetMs, log } = context;
  const zoo = settings.zoo ?? DEFAULT_ZOO_SETTINGS;
  log.info({ zoo: request.trainZoo !== false && zoo.train }, 'report');
  return writePipelineReport({
    run,
    record,
    table,
    targetMs,
    zoo: { train: request.trainZoo !== false && zoo.train, window: zoo.window, cacheDir: request.zooCacheDir ?? DEFAULT_ZOO_CACHE_DIR },
    backend: request.backend,
    signal: request.signal,
    log,
  });
}

/** Runs one stage, recording it as running (with its inputs' hashes), then done or skipped, with its wall time. */
async function runStage(context: PipelineContext, stage: PipelineStage, work: StageWork): Promise<void> {
  const { run, record } = context;
  const before = record.stages[stage];
  record.stages[stage] = { ...before, state: 'running', command: work.command, inputs: run.hashInputs(work.inputs) };
  await run.write(record);
  context.request.onStage?.(stage, record);
  context.log.info({ stage, command: work.command }, 'stage');
  const started = Date.now();
  const wallSeconds = () => before.wallSeconds + (Date.now() - started) / 1000;
  const clock = keepWallTime(context, stage, wallSeconds);
  let outcome: StageOutcome;
  try {
    outcome = await work.run();
  } catch (err) {
    await clock.stop();
    record.stages[stage] = { ...record.stages[stage], wallSeconds: wallSeconds() };
    await run.write(record);
    if (err instanceof InterruptedError)
      throw new InterruptedError(
        `the ${stage} stage stopped with its progress saved; continue with ${resumeCommand('pipeline', run.dir)}`,
        {
          cause: err,
        },
      );
    throw err;
  }
  await clock.stop();
  const { skipped, outputs } = outcome;
  record.stages[stage] = {
    ...record.stages[stage],
    state: skipped ? 'skipped' : 'done',
    // A skipped stage wrote no run directory: it records none.
    ...(skipped ? { reason: skipped, dir: null } : {}),
    outputs,
    wallSeconds: wallSeconds(),
  };
  await run.write(record);
  context.request.onStage?.(stage, record);
}

/**
 * Saves the running stage's wall time every `everyMs` (a minute); `stop` ends that and waits for a
 * save in flight.
 */
export function keepWallTime(
  { run, record, log }: Pick<PipelineContext, 'run' | 'record' | 'log'>,
  stage: PipelineStage,
  wallSeconds: () => number,
  everyMs = WALL_TIME_SAVE_MS,
): { stop: () => Promise<void> } {
  const save = () => {
    record.stages[stage] = { ...record.stages[stage], wallSeconds: wallSeconds() };
    return run.write(record);
  };
  return saveEvery(everyMs, save, log);
}

const STAGE_WORK: Record<PipelineStage, (context: PipelineContext) => StageWork> = {
  search: searchStage,
  train: trainStage,
  netadapt: netadaptStage,
  evaluate: evaluateStage,
};

function searchStage({ request, run, record, log }: PipelineContext): StageWork {
  const dir = run.stageDir('search');
  return {
    inputs: [],
    command: commandLine(['nas', 'search', '--experiment', run.file('experiment'), '--out', dir]),
    run: async () => {
      const summary = await runSearchJob({
        experiment: record.experiment,
        runDir: dir,
        resume: new SearchRunDir(dir).isRun(),
        backend: request.backend,
        command: commandLine(['nas', 'search', '--experiment', run.file('experiment'), '--out', dir]),
        signal: request.signal,
        log,
        onProgress: (progress) => request.onProgress?.({ stage: 'search', progress }),
      });
      if (!summary.best) throw new InputError(`${dir}: the search rewarded no architecture; see its trials and the experiment's reward`);
      const { accuracy, latencyMs, reward } = summary.best;
      return { outputs: { best: path.relative(run.dir, summary.best.spec), trials: summary.trials, accuracy, latencyMs, reward } };
    },
  };
}

function trainStage({ request, run, record, settings, log }: PipelineContext): StageWork {
  const dir = run.stageDir('train');
  const best = new SearchRunDir(run.stageDir('search')).file('best');
  const recipe = { dataset: record.experiment.proxy.dataset, ...settings.train };
  const command = recipeTrainCommand(best, recipe, dir);
  return {
    inputs: [best],
    command,
    run: async () => {
      const summary = await trainWithRecipe(readArchSpec(best), best, recipe, dir, {
        resume: new TrainRunDir(dir).holdsRun(),
        backend: request.backend,
        command,
        signal: request.signal,
        log,
        onProgress: (progress) => request.onProgress?.({ stage: 'train', progress }),
      });
      return {
        outputs: { checkpoint: path.relative(run.dir, resolveCheckpointDir(dir)), valTop1: summary.valTop1, testTop1: summary.top1 },
      };
    },
  };
}

/** The deployed model's predicted latency on the experiment's table. */
function deployedLatency(context: PipelineContext, specFile: string): number {
  const { resolution, classes } = context.record.experiment.latency;
  return deployedLatencyMs(readArchSpec(specFile), context.table, { resolution, classes }, specFile);
}

/**
 * NetAdapt as the pipeline runs it: the paper's ratio metric, a constant step, priced like the
 * search (at the experiment's deployment input, ops the table lacks estimated when it says so).
 */
export function pipelineNetAdaptSettings(
  experiment: Experiment,
  netadapt: PipelineSettings['netadapt'],
  targetMs: number,
): NetAdaptSettings {
  const { latency } = experiment;
  return {
    targetMs,
    deltaRatio: netadapt.deltaRatio,
    deltaDecay: 1,
    metric: 'ratio',
    latencyResolution: latency.resolution,
    latencyClasses: latency.classes,
    latencyMissing: latency.missing === 'estimate' ? 'estimate' : undefined,
  };
}

function netadaptStage(context: PipelineContext): StageWork {
  const { request, run, record, settings, targetMs, log } = context;
  const dir = run.stageDir('netadapt');
  const seedCheckpoint = run.stageDir('train');
  const { latency, proxy, parallel } = record.experiment;
  const na = settings.netadapt;
  const { seed, trainSamples } = settings.train;
  const netadaptSettings = pipelineNetAdaptSettings(record.experiment, na, targetMs);
  const { latencyMissing } = netadaptSettings;
  const command = commandLine([
    ...['nas', 'netadapt', '--checkpoint', seedCheckpoint, '--table', latency.table, '--target-ms', targetMs],
    ...['--delta-ratio', na.deltaRatio, '--finetune-steps', na.finetuneSteps, '--validation-samples', na.validationSamples],
    ...['--dataset', proxy.dataset, '--parallel', parallel, '--latency-resolution', latency.resolution],
    ...['--latency-classes', latency.classes, ...(latencyMissing ? ['--latency-missing', latencyMissing] : [])],
    ...['--final-epochs', settings.finalEpochs, ...(trainSamples === undefined ? [] : ['--final-samples', trainSamples])],
    ...['--seed', seed, '--out', dir],
  ]);
  const checkpoint = resolveCheckpointDir(seedCheckpoint);
  return {
    inputs: [checkpoint],
    command,
    run: async () => {
      const trainedMs = deployedLatency(context, path.join(checkpoint, 'spec.json'));
      if (trainedMs <= targetMs * (1 + na.tolerance))
        return { outputs: { latencyMs: trainedMs, targetMs }, skipped: netadaptSkipReason(trainedMs, targetMs, na.tolerance) };
      const summary = await runNetAdaptJob({
        seedCheckpoint,
        table: latency.table,
        settings: netadaptSettings,
        dataset: proxy.dataset,
        finetune: { steps: na.finetuneSteps, validationSamples: na.validationSamples, seed, parallel },
        final: { epochs: settings.finalEpochs, trainSamples },
        backend: request.backend,
        outDir: dir,
        resume: new NetAdaptRunDir(dir).isRun(),
        signal: request.signal,
        log,
        onProgress: (progress) => request.onProgress?.({ stage: 'netadapt', progress }),
      });
      const { steps, seedLatencyMs, finalLatencyMs, finalAccuracy } = summary;
      const outputs = { spec: path.relative(run.dir, summary.spec), steps, seedLatencyMs, finalLatencyMs, targetMs };
      return { outputs: { ...outputs, adaptedValTop1: adaptedAccuracy(new NetAdaptRunDir(dir)), valTop1: finalAccuracy } };
    },
  };
}

/** Validation top-1 of the network NetAdapt's last step chose, after its short fine-tune (before the final training). */
function adaptedAccuracy(netadapt: NetAdaptRunDir): number {
  const history = netadapt.readHistory();
  const last = history.steps.at(-1);
  return last ? last.proposals[last.chosen]!.accuracy : history.seedAccuracy;
}

interface FinalModel {
  checkpoint: string;
  testTop1: number | null;
  /** Predicted on the experiment's table (by NetAdapt's oracle, which prices ops the table lacks, when NetAdapt ran). */
  latencyMs: number;
  from: string;
}

/** The final model: NetAdapt's final training, or the standalone training when NetAdapt was skipped. */
function finalModel(context: PipelineContext): FinalModel {
  const { run, record } = context;
  if (record.stages.netadapt.state === 'skipped') {
    const train = new TrainRunDir(run.stageDir('train'));
    const checkpoint = resolveCheckpointDir(train.dir);
    const latencyMs = deployedLatency(context, path.join(checkpoint, 'spec.json'));
    return { checkpoint, testTop1: train.readResult().top1, latencyMs, from: train.dir };
  }
  const netadapt = new NetAdaptRunDir(run.stageDir('netadapt'));
  const summary = netadapt.readSummary();
  // The pipeline always trains NetAdapt's result (finalEpochs >= 1): its checkpoint is found in the
  // pipeline's directory, not at the path summary.json recorded (relative to where the run started).
  const checkpoint = resolveCheckpointDir(netadapt.finalTraining().dir);
  return { checkpoint, testTop1: summary.testTop1, latencyMs: summary.finalLatencyMs, from: run.stageDir('netadapt') };
}

/** The final model on the test split (scored by its final training), priced on the experiment's table and timed here when the table is this machine's. */
function evaluateStage(context: PipelineContext): StageWork {
  const { run, targetMs, record } = context;
  const final = finalModel(context);
  const specFile = path.join(final.checkpoint, 'spec.json');
  return {
    inputs: [final.checkpoint],
    // Only a table profiled on this machine's CPU is timed here (nas latency --measure refuses another device's).
    command: `${commandLine(['nas', 'eval', '--checkpoint', final.checkpoint, '--split', 'test'])} && ${commandLine([
      ...['nas', 'latency', '--arch', specFile, '--table', record.experiment.latency.table],
      ...(profiledOnThisCpu(context.table) ? ['--measure'] : []),
    ])}`,
    run: async () => {
      const spec = readArchSpec(specFile);
      const latencyMs = final.latencyMs;
      const outputs = {
        from: path.relative(run.dir, final.from),
        checkpoint: path.relative(run.dir, final.checkpoint),
        spec: spec.name,
        specHash: specHash(spec),
        predictedLatencyMs: latencyMs,
        ...(await measuredLatencies(context, specFile)),
        targetMs,
        latencyOffTarget: latencyMs / targetMs - 1,
        testTop1: final.testTop1,
      };
      return { outputs };
    },
  };
}

/**
 * The final model (and the standalone-trained architecture, when NetAdapt changed it) timed on
 * this machine at the table's resolution and classes; null with the reason for another machine's table.
 */
async function measuredLatencies(context: PipelineContext, finalSpecFile: string): Promise<Record<string, unknown>> {
  const { request, record, settings, table } = context;
  await prepareBackend(request.backend);
  const { resolution, classes } = record.experiment.latency;
  const trainedSpecFile = path.join(resolveCheckpointDir(context.run.stageDir('train')), 'spec.json');
  const files = record.stages.netadapt.state === 'skipped' ? [finalSpecFile] : [finalSpecFile, trainedSpecFile];
  const specs = files.map((file) => withInput(readArchSpec(file), { resolution, classes }, file));
  const timing = await measureOnThisMachine(specs, table, settings.measure, request.signal);
  if (!timing.measured) return { measuredLatencyMs: null, measuredNote: timing.reason };
  const [finalTiming, trainedTiming] = timing.measured;
  return {
    measuredLatencyMs: finalTiming!.measuredMs,
    measuredRawMs: finalTiming!.rawMs,
    ...(trainedTiming ? { trainedMeasuredLatencyMs: trainedTiming.measuredMs } : {}),
  };
}

/** Why NetAdapt does not run on a trained model at or below the target (it only cuts latency, so a faster model stays as it is). */
export function netadaptSkipReason(trainedMs: number, targetMs: number, tolerance: number): string {
  const off = trainedMs / targetMs - 1;
  const where = `the trained model's predicted ${trainedMs.toFixed(3)} ms is ${(100 * Math.abs(off)).toFixed(1)}% ${off < 0 ? 'below' : 'above'} the target ${targetMs.toFixed(3)} ms`;
  return off >= -tolerance
    ? `${where}: within the ${formatShare(tolerance)} tolerance`
    : `${where}: NetAdapt only cuts latency (a soft reward lets the search settle below the target; reward.constraint "hard" or "absolute" holds it near)`;
}
