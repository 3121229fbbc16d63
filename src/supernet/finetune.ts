/**
 * The last step of a supernet search's ranking (settings.finetuneSteps > 0): the best ranked
 * candidates are each fine-tuned briefly from their inherited weights and ranked again.
 *
 * Shared weights serve some members worse than others whatever those would reach alone: in the
 * `mobilenetv3` space members without residuals score far lower with inherited weights than
 * standalone training ranks them (results/supernet.md). A few steps of training from the
 * inherited weights, as NetAdapt fine-tunes each proposal, let every candidate adapt before it is
 * judged; the supernet is then a warm start, not an oracle. Measured on 20 members, it is not
 * shown to rank better (Kendall tau 0.364 at 50 steps, 0.169 at 150, 0.200 without), so it is off
 * by default.
 */
import { rmSync } from 'node:fs';
import { resumeCommand } from '../common/command-line.js';
import { InterruptedError } from '../common/errors.js';
import type { Experiment } from '../controller/experiment.js';
import { reward } from '../controller/reward.js';
import type { SearchSetup } from '../controller/setup.js';
import { shortFinetuneConfig, type TrainConfig } from '../trainer/config.js';
import { loadDataset, type TrainingData } from '../trainer/data/index.js';
import { trainForEvaluation } from '../trainer/training-pool.js';
import { type RankedCandidate, writeInheritedCheckpoint } from './ranking.js';
import type { SupernetSettings } from './settings.js';
import type { Supernet } from './supernet.js';
import type { FinetuneResult, SupernetRunDir } from './supernet-run.js';

export interface FinetuneRequest {
  run: SupernetRunDir;
  supernet: Supernet;
  experiment: Experiment;
  setup: SearchSetup;
  settings: SupernetSettings;
  onProgress?: (done: number, of: number) => void;
  signal?: AbortSignal;
}

/** A candidate's fine-tune: `finetuneSteps` batches of proxy images, scored on the ranking images. */
export function finetuneConfig(experiment: Experiment, settings: SupernetSettings): TrainConfig {
  const options = { steps: settings.finetuneSteps, validationSamples: settings.rankingSamples, seed: experiment.seed };
  return shortFinetuneConfig(options, `${experiment.name}: supernet fine-tune`);
}

/**
 * The top `topK` candidates, each fine-tuned from its inherited weights and ranked again among
 * themselves by its fine-tuned validation accuracy; the other candidates keep their places below
 * them. A fine-tune that fails (a diverged loss) ranks last, below every candidate. Finished
 * fine-tunes are kept in the run directory, so a resumed run does only the ones still to do.
 */
export async function finetuneTopCandidates(request: FinetuneRequest, ranked: readonly RankedCandidate[]): Promise<RankedCandidate[]> {
  const { experiment, settings } = request;
  if (settings.finetuneSteps === 0) return [...ranked];
  const top = ranked.slice(0, settings.topK);
  const dataset = loadDataset(experiment.proxy.dataset, experiment.proxy.resolution);
  const config = finetuneConfig(experiment, settings);
  const tuned: RankedCandidate[] = [];
  for (const [i, candidate] of top.entries()) {
    if (request.signal?.aborted) throw interruptedWhileFinetuning(request.run.dir);
    const rank = i + 1;
    const result = request.run.readFinetuneResult(rank, candidate.choices) ?? (await finetune(request, rank, candidate, dataset, config));
    tuned.push({
      ...candidate,
      accuracy: result.accuracy,
      reward: reward(result.accuracy, candidate.latencyMs, request.setup.rewardSettings),
      finetuned: {
        checkpoint: request.run.finetuneFile(rank, 'finetuned'),
        inheritedAccuracy: candidate.accuracy,
        error: result.error,
      },
    });
    request.onProgress?.(rank, top.length);
  }
  const byReward = tuned.sort((a, b) => b.reward - a.reward);
  const failed = byReward.filter((c) => c.finetuned?.error);
  return [...byReward.filter((c) => !c.finetuned?.error), ...ranked.slice(top.length), ...failed];
}

/** One candidate's fine-tune from its inherited weights, its result written beside its checkpoints. */
async function finetune(
  request: FinetuneRequest,
  rank: number,
  candidate: RankedCandidate,
  dataset: TrainingData,
  config: TrainConfig,
): Promise<Omit<FinetuneResult, 'schemaVersion' | 'kind' | 'tool'>> {
  const { run } = request;
  rmSync(run.finetuneDir(rank), { recursive: true, force: true });
  const spec = request.supernet.member(candidate.choices);
  await writeInheritedCheckpoint(run.finetuneFile(rank, 'inherited'), request.supernet, candidate, spec, request.experiment.proxy.dataset);
  try {
    const evaluation = await trainForEvaluation(dataset, spec, config, {
      inheritFrom: { spec, checkpoint: run.finetuneFile(rank, 'inherited') },
      outDir: run.finetuneFile(rank, 'finetuned'),
      signal: request.signal,
    });
    const result = { choices: candidate.choices, accuracy: evaluation.accuracy, error: evaluation.error, seconds: evaluation.seconds };
    await run.writeFinetuneResult(rank, result);
    return result;
  } catch (error) {
    // The trainer's own message would point at the candidate's directory; the run resumes as a whole.
    if (error instanceof InterruptedError) throw interruptedWhileFinetuning(run.dir);
    throw error;
  }
}

const interruptedWhileFinetuning = (runDir: string) =>
  new InterruptedError(
    `supernet search interrupted while fine-tuning candidates: the trained supernet and the finished fine-tunes are kept in ${runDir}; continue with ${resumeCommand('search', runDir)}`,
  );
