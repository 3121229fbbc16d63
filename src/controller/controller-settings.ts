/**
 * The controller's settings (an experiment's `controller` section) and their defaults, apart from
 * the policies that use them so that reading an experiment does not load tfjs.
 */
import { z } from 'zod';

export const ControllerSettingsSchema = z.strictObject({
  hidden: z.int().positive(),
  embedding: z.int().positive(),
  learningRate: z.number().positive(),
  entropyWeight: z.number().min(0),
  baselineDecay: z.number().min(0).lt(1),
  /** PPO only: clip range and optimisation epochs per batch. */
  clip: z.number().positive(),
  epochs: z.int().positive(),
  /** Extra threads that sample and differentiate shards of batches of at least 2 x MIN_SHARD. */
  workers: z.int().min(0).max(63),
});
export type ControllerSettings = z.infer<typeof ControllerSettingsSchema>;

export const DEFAULT_CONTROLLER: ControllerSettings = {
  hidden: 64,
  embedding: 32,
  learningRate: 0.01,
  entropyWeight: 1e-3,
  baselineDecay: 0.8,
  clip: 0.2,
  epochs: 4,
  workers: 1,
};
