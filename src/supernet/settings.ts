/** The settings of the weight-sharing evaluator (an experiment's `supernet` section). */
import { z } from 'zod';

export const SupernetSettingsSchema = z.strictObject({
  /** Share of the run's steps that train the shared weights on uniformly sampled members before the controller learns. */
  warmup: z.number().min(0).lt(1),
  /**
   * TuNAS's op warm-up: during the warm-up, each op choice whose options have separate weights
   * (conv, dsconv, bottleneck) runs all of them summed, with a probability falling from 1 to 0.
   */
  opWarmup: z.boolean(),
  /**
   * Residual warm-up: during the warm-up, a layer whose residual the member switches off still
   * adds its input, scaled by a weight falling from 1 to 0, so members without residuals start from
   * the features residual members learn (alone they learn nothing from shared weights:
   * results/supernet.md).
   */
  residualWarmup: z.boolean(),
  /**
   * Share of the warm-up over which the op and residual warm-ups fall from 1 to 0 (1: the whole
   * warm-up). Below 1, the rest of the warm-up trains the drawn members as they are, so members
   * without residuals also train as the function they compute when ranked. With a long warm-up
   * (95% of the steps) 0.4 ranked the mobilenetv3 space's members better than 1 at two training
   * lengths, for less CPU (results/supernet.md, "Ending the warm-ups early"); the default stays 1
   * because with the default 25% warm-up 0.4 would end them at 10% of the steps, shorter than the
   * residual warm-up was seen to need.
   */
  pathWarmupShare: z.number().gt(0).max(1),
  /**
   * The sandwich rule with in-place distillation (BigNAS): each step also trains the space's largest
   * member on the labels and its smallest, and the drawn and smallest members learn from the
   * largest member's predictions (sandwich.ts). About three forward and backward passes a step.
   */
  sandwich: z.boolean(),
  /**
   * Strict fairness (FairNAS): each uniform warm-up step trains as many members as the widest
   * choice point has options, every option of every choice point in them equally often, with one
   * update for all (fair.ts). About that many forward and backward passes a step (4 in the
   * mobilenetv3 space).
   */
  fairPaths: z.boolean(),
  /**
   * Share of the run's steps, at its start, that train only the space's largest member (as
   * Once-for-All trains its full network before any sub-network shares it; sandwich.ts says which
   * member is the largest). Part of the warm-up, so below `warmup`: uniform members follow.
   */
  largestFirst: z.number().min(0).lt(1),
  /** Validation images each sampled member's reward is measured on (one batch). */
  validationBatch: z.int().positive(),
  /** The controller's learning rate (absent: the experiment's controller.learningRate). */
  controllerLearningRate: z.number().positive().optional(),
  /** Training batches that re-estimate a member's batch-norm statistics before it is ranked. */
  recalibrationBatches: z.int().positive(),
  /** Distinct members (its most likely one first, then draws from the final controller) ranked on the validation split. */
  candidates: z.int().positive(),
  /** How many of the ranked members are written as specs. */
  topK: z.int().positive(),
  /** Validation images a candidate is ranked on. */
  rankingSamples: z.int().positive(),
  /**
   * Steps (batches of 32 proxy training images) each of the top `topK` ranked candidates is
   * fine-tuned from its inherited weights before they are ranked again on the fine-tuned
   * accuracy (finetune.ts; 0: ranked on inherited weights alone).
   */
  finetuneSteps: z.int().min(0),
  /** A checkpoint of the shared weights, optimizer and controller at least this often. */
  checkpointMinutes: z.number().positive(),
});
export type SupernetSettings = z.infer<typeof SupernetSettingsSchema>;

export const DEFAULT_SUPERNET: SupernetSettings = {
  warmup: 0.25,
  opWarmup: true,
  residualWarmup: true,
  pathWarmupShare: 1,
  sandwich: false,
  fairPaths: false,
  largestFirst: 0,
  validationBatch: 64,
  recalibrationBatches: 10,
  candidates: 30,
  topK: 5,
  rankingSamples: 1000,
  finetuneSteps: 0,
  checkpointMinutes: 2,
};

export function supernetSettings(partial: Partial<SupernetSettings> | undefined): SupernetSettings {
  return { ...DEFAULT_SUPERNET, ...partial };
}
