/**
 * Opening a pipeline: a new one (its experiment must have a `pipeline` section) or the one being
 * resumed (an experiment given with it must be the pipeline's own, field for field).
 */
import { InputError, jsonPath } from '../common/errors.js';
import type { Experiment, PipelineSettings } from '../controller/experiment.js';
import { type PipelineRecord, PipelineRunDir } from './pipeline-run.js';

export interface PipelineStart {
  experiment?: Experiment | undefined;
  experimentFile?: string | undefined;
  outDir?: string | undefined;
  resume?: string | undefined;
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
    return { run, record, settings: settingsOf(record.experiment, run.file('experiment')) };
  }
  const { experiment, outDir } = request;
  if (!experiment || !outDir)
    throw new InputError('a new pipeline needs --experiment FILE (and --out DIR); continue one with --resume DIR');
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

function refuseOtherExperiment(experiment: Experiment, record: PipelineRecord, source: string, run: PipelineRunDir): void {
  const difference = firstDifference(experiment, record.experiment, []);
  if (difference === null) return;
  throw new InputError(
    `${source}: ${jsonPath(difference.path)} is ${JSON.stringify(difference.given)}, the pipeline in ${run.dir} ran with ${JSON.stringify(difference.recorded)}; resume without --experiment, or start a new pipeline with --out`,
  );
}

interface Difference {
  path: (string | number)[];
  given: unknown;
  recorded: unknown;
}

/** The first field (depth first, in key order) where two JSON values differ, or null. */
function firstDifference(given: unknown, recorded: unknown, at: (string | number)[]): Difference | null {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (!isObject(given) || !isObject(recorded)) {
    return JSON.stringify(given) === JSON.stringify(recorded) ? null : { path: at, given, recorded };
  }
  const keys = [...new Set([...Object.keys(given), ...Object.keys(recorded)])].sort();
  for (const key of keys) {
    const difference = firstDifference(given[key], recorded[key], [...at, key]);
    if (difference) return difference;
  }
  return null;
}
