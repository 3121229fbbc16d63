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
import path from 'node:path';
import { InterruptedError } from '../common/errors.js';
import type { Experiment } from '../controller/experiment.js';
import { reward } from '../controller/reward.js';
import type { SearchSetup } from '../controller/setup.js';
import { shortFinetuneConfig, type TrainConfig } from '../trainer/config.js';
import { loadDataset } from '../trainer/data/index.js';
import { trainForEvaluation } from '../trainer/training-pool.js';
import { type RankedCandidate, writeInheritedCheckpoint } from './ranking.js';
import type { SupernetSettings } from './settings.js';
import type { Supernet } from './supernet.js';
import type { SupernetRunDir } from './supernet-run.js';

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
 * them. A fine-tune that fails (a diverged loss) scores 0, as a proxy child does.
 */
export async function finetuneTopCandidates(request: FinetuneRequest, ranked: readonly RankedCandidate[]): Promise<RankedCandidate[]> {
  const { experiment, settings, supernet } = request;
  if (settings.finetuneSteps === 0) return [...ranked];
  const top = ranked.slice(0, settings.topK);
  const dataset = loadDataset(experiment.proxy.dataset, experiment.proxy.resolution);
  const config = finetuneConfig(experiment, settings);
  const root = request.run.supernetFile('finetuned');
  rmSync(root, { recursive: true, force: true });
  const tuned: RankedCandidate[] = [];
  for (const [i, candidate] of top.entries()) {
    if (request.signal?.aborted)
      throw new InterruptedError(
        'supernet search interrupted while fine-tuning candidates: the trained supernet is kept; continue with --resume',
      );
    const dir = path.join(root, `candidate-${i + 1}`);
    const spec = supernet.member(candidate.choices);
    await writeInheritedCheckpoint(path.join(dir, 'inherited'), supernet, candidate, spec);
    const result = await trainForEvaluation(dataset, spec, config, {
      inheritFrom: { spec, checkpoint: path.join(dir, 'inherited') },
      outDir: path.join(dir, 'finetuned'),
      signal: request.signal,
    });
    tuned.push({
      ...candidate,
      accuracy: result.accuracy,
      reward: reward(result.accuracy, candidate.latencyMs, request.setup.rewardSettings),
      finetuned: { checkpoint: path.join(dir, 'finetuned'), inheritedAccuracy: candidate.accuracy, error: result.error },
    });
    request.onProgress?.(i + 1, top.length);
  }
  return [...tuned.sort((a, b) => b.reward - a.reward), ...ranked.slice(top.length)];
}
