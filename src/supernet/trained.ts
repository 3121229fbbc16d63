/**
 * A trained supernet reopened from its run directory: any member of its space evaluated in seconds
 * with inherited weights (batch norm recalibrated), as Once-for-All searches a trained network.
 */
import { resumeCommand } from '../common/command-line.js';
import { InputError } from '../common/errors.js';
import { derive } from '../common/rng.js';
import { setupSearch } from '../controller/setup.js';
import { deployedLatencyMs } from '../latency-model/predict/predict.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { getChoiceSpace } from '../search-space/spaces.js';
import { evaluateMember, recalibrate, writeInheritedCheckpoint } from './ranking.js';
import { proxyBatchers } from './search.js';
import { supernetSettings } from './settings.js';
import { Supernet } from './supernet.js';
import { SupernetRunDir } from './supernet-run.js';

export interface MemberEvaluation {
  /** Validation top-1 with inherited weights, batch norm recalibrated. */
  accuracy: number;
  latencyMs: number;
}

export interface TrainedSupernet {
  readonly supernet: Supernet;
  evaluate(choices: readonly number[]): MemberEvaluation;
  /** The member's latency on the run's table (deployment resolution and classes), without evaluating it. */
  latencyMs(choices: readonly number[]): number;
  /** The run's target latency. */
  readonly targetMs: number;
  /** The member's inherited weights (batch norm recalibrated) as an ordinary checkpoint in `dir`, with its spec. */
  writeMemberCheckpoint(choices: readonly number[], dir: string): Promise<ArchSpec>;
  dispose(): void;
}

/** Opens the supernet of a (finished or interrupted) supernet search run at its last checkpoint. */
export function openTrainedSupernet(runDir: string): TrainedSupernet {
  const run = new SupernetRunDir(runDir);
  const { experiment } = run.readRecord();
  if (experiment.evaluator !== 'supernet')
    throw new InputError(`${runDir} is a ${experiment.evaluator ?? 'proxy'} search run, not a supernet run`);
  const checkpoint = run.readCheckpoint();
  if (!checkpoint)
    throw new InputError(
      `${runDir}: no supernet checkpoint yet (the first is written a few minutes into the run, or at Ctrl-C): continue it with ${resumeCommand('search', runDir)}`,
    );
  const { train, validation } = proxyBatchers(experiment, getChoiceSpace(experiment.space));
  const setup = setupSearch(experiment, train.classes);
  const supernet = new Supernet(setup.space, { resolution: experiment.proxy.resolution, classes: train.classes, seed: experiment.seed });
  supernet.loadArrays(checkpoint.arrays, run.supernetFile('checkpointState'));
  const settings = supernetSettings(experiment.supernet);
  const { resolution, classes } = experiment.latency;
  const recalibrated = (choices: readonly number[]) =>
    recalibrate(supernet, train, settings.recalibrationBatches, derive(experiment.seed, 'recalibrate'), choices);
  const latencyMs = (choices: readonly number[]) => deployedLatencyMs(supernet.member(choices), setup.table, { resolution, classes });
  return {
    supernet,
    targetMs: setup.rewardSettings.targetMs,
    latencyMs,
    evaluate(choices) {
      const stats = recalibrated(choices);
      return { accuracy: evaluateMember(supernet, choices, stats, validation, settings.rankingSamples), latencyMs: latencyMs(choices) };
    },
    async writeMemberCheckpoint(choices, dir) {
      const spec = supernet.member(choices);
      const member = { choices: [...choices], stats: recalibrated(choices), accuracy: null };
      await writeInheritedCheckpoint(dir, supernet, member, spec, experiment.proxy.dataset);
      return spec;
    },
    dispose: () => supernet.dispose(),
  };
}
