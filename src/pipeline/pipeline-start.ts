/**
 * Opening a pipeline: a new one (its experiment must have a `pipeline` section) or the one being
 * resumed (an experiment given with it must be the pipeline's own, field for field but the
 * budget and `parallel`), its search's budget extended and its parallelism changed when asked.
 */
import { InputError } from '../common/errors.js';
import { formatDifferences } from '../common/json-diff.js';
import { writeJsonAtomic } from '../common/json-io.js';
import { type Experiment, experimentDifferences, type PipelineSettings } from '../controller/experiment.js';
import { SearchRunDir } from '../controller/search-run.js';
import { type PipelineRecord, PipelineRunDir, type PipelineStage } from './pipeline-run.js';

export interface PipelineStart {
  /** The experiment (required for a new pipeline; with `resume`, checked against the pipeline's). */
  experiment?: Experiment | undefined;
  experimentFile?: string | undefined;
  /** The directory of a new pipeline. */
  outDir?: string | undefined;
  /** The directory of a pipeline to continue. */
  resume?: string | undefined;
  /** The search's budget: a new pipeline's (over the experiment's), or a resumed one's extended to it. */
  budget?: number | undefined;
  /** Children trained at once (also NetAdapt's proposals): a new pipeline's (over the experiment's), or a resumed one's from now on. */
  parallel?: number | undefined;
  command: string;
}

/** The section `nas pipeline` suggests for an experiment without one (nothing applies it silently). */
export function suggestedPipelineSettings(experiment: Experiment): PipelineSettings {
  return {
    train: { epochs: 10, resolution: experiment.proxy.resolution, seed: experiment.seed },
    netadapt: { finetuneSteps: 100, deltaRatio: 0.05, tolerance: 0.03, validationSamples: 2000 },
    finalEpochs: 5,
  };
}

/** The pipeline to run and its settings; `check` validates a new pipeline's experiment before its directory is written. */
export async function openPipeline(
  request: PipelineStart,
  check: (experiment: Experiment) => unknown,
): Promise<{ run: PipelineRunDir; record: PipelineRecord; settings: PipelineSettings }> {
  if (request.resume) {
    const run = new PipelineRunDir(request.resume);
    const record = run.read();
    if (request.experiment) refuseOtherExperiment(request.experiment, record, request.experimentFile ?? 'the experiment', run);
    if (request.budget !== undefined) await changeBudget(run, record, request.budget, request.command);
    await changeParallel(run, record, request.parallel ?? request.experiment?.parallel);
    return { run, record, settings: settingsOf(record.experiment, run.file('experiment')) };
  }
  const { outDir } = request;
  if (!request.experiment || !outDir)
    throw new InputError('a new pipeline needs --experiment FILE (and --out DIR); continue one with --resume DIR');
  const experiment = {
    ...request.experiment,
    budget: request.budget ?? request.experiment.budget,
    parallel: request.parallel ?? request.experiment.parallel,
  };
  const settings = settingsOf(experiment, request.experimentFile ?? 'the experiment');
  const run = new PipelineRunDir(outDir);
  if (!run.isRun()) check(experiment);
  return { run, record: await run.create(experiment, request.command), settings };
}

function settingsOf(experiment: Experiment, source: string): PipelineSettings {
  if (experiment.pipeline) return experiment.pipeline;
  throw new InputError(
    `${source}: no "pipeline" section (the standalone training, NetAdapt and final-training recipe); add one, e.g. "pipeline": ${JSON.stringify(suggestedPipelineSettings(experiment))}`,
  );
}

/**
 * `--resume DIR --budget N`: the search continues to N trials (the controller where it stopped).
 * A finished search is reopened, and the later stages' runs, made stale by it, are moved into
 * `superseded-<k>/` and run again (moved back instead when the extended search keeps its best
 * architecture: reinstateIfBestUnchanged); N below the trials done, or any change of a supernet search's
 * budget (it fixes the warm-up and the schedule), exits 2 before anything is written.
 */
async function changeBudget(run: PipelineRunDir, record: PipelineRecord, budget: number, command: string): Promise<void> {
  const from = record.experiment.budget;
  if (budget === from) return;
  if (record.experiment.evaluator === 'supernet')
    throw new InputError(
      `--budget ${budget}: the pipeline in ${run.dir} searches with a supernet, whose budget (${from}) fixes its warm-up and learning-rate schedule; resume without --budget, or start a new pipeline with --out`,
    );
  const search = record.stages.search;
  const done = trialsDone(run, record);
  if (done !== null && budget < done)
    throw new InputError(
      `--budget ${budget} is below the ${done} trials the search of ${run.dir} already did: give --budget ${done} or more`,
    );
  let superseded: string | null = null;
  const { train, netadapt, evaluate } = record.stages;
  const supersededStages = { train, netadapt, evaluate };
  if (search.state === 'done' && done !== null && budget > done) {
    // Moved before the record says pending: a crash in between leaves a stage whose input is gone (refused by name), never a stale run continued.
    superseded = await run.supersede(LATER_STAGES);
    for (const stage of LATER_STAGES) record.stages[stage] = PipelineRunDir.pendingStage(stage);
    record.stages.search = { ...search, state: 'pending' };
  }
  record.experiment = { ...record.experiment, budget };
  const change = { from, to: budget, command, at: new Date().toISOString(), superseded };
  record.budgetChanges = [...(record.budgetChanges ?? []), superseded ? { ...change, supersededStages } : change];
  await writeJsonAtomic(run.file('experiment'), record.experiment);
  await run.write(record);
}

/** The stages an extended search makes stale. */
const LATER_STAGES = ['train', 'netadapt', 'evaluate'] as const satisfies readonly PipelineStage[];

/** A resumed pipeline trains `parallel` children (and NetAdapt proposals) at once from now on: no result depends on it. */
async function changeParallel(run: PipelineRunDir, record: PipelineRecord, parallel: number | undefined): Promise<void> {
  if (parallel === undefined || parallel === record.experiment.parallel) return;
  record.experiment = { ...record.experiment, parallel };
  await run.write(record);
}

/**
 * After a search extended by `--budget` has finished: when its best architecture is the one the
 * stages moved aside started from (the training's recorded best.json hash), their runs are moved
 * back and their records restored instead of running them again; a training that was still
 * running comes back as running and resumes from its checkpoint. Returns whether it did.
 */
export async function reinstateIfBestUnchanged(run: PipelineRunDir, record: PipelineRecord): Promise<boolean> {
  const change = record.budgetChanges?.at(-1);
  if (!change?.superseded || !change.supersededStages || change.reinstated) return false;
  const before = change.supersededStages;
  const pending = LATER_STAGES.every((stage) => record.stages[stage].state === 'pending');
  const trainingStarted = before.train.state === 'done' || before.train.state === 'running';
  if (record.stages.search.state !== 'done' || !pending || !trainingStarted) return false;
  if (!run.inputsUnchanged(before.train)) return false;
  // Moved back before the record is restored: a crash in between leaves the runs in place, and the next resume reinstates again (a run already back is kept).
  await run.reinstate(change.superseded, LATER_STAGES);
  for (const stage of LATER_STAGES) record.stages[stage] = before[stage];
  change.reinstated = true;
  await run.write(record);
  return true;
}

/** The trials the pipeline's search has done: as its finished stage recorded them, else in its trial store (null before it started). */
function trialsDone(run: PipelineRunDir, record: PipelineRecord): number | null {
  const search = record.stages.search;
  if (search.state === 'done') return Number(search.outputs['trials']);
  const searchRun = new SearchRunDir(run.stageDir('search'));
  if (!searchRun.isRun()) return null;
  const store = searchRun.trialStore();
  try {
    return store.count();
  } finally {
    store.close();
  }
}

function refuseOtherExperiment(experiment: Experiment, record: PipelineRecord, source: string, run: PipelineRunDir): void {
  // The budget and parallelism are not the experiment's identity (--resume --budget extends it; --parallel changes it).
  const differences = experimentDifferences(record.experiment, experiment);
  if (differences.length === 0) return;
  throw new InputError(
    `${source}: not the experiment the pipeline in ${run.dir} ran: ${formatDifferences(differences)} (the pipeline's value, then this one's); resume without --experiment, or start a new pipeline with --out`,
  );
}
