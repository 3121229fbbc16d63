/**
 * The multi-objective reward of MnasNet / MobileNetV3: R(m) = ACC(m) * (LAT(m) / TAR)^w, with
 * w = alpha when LAT <= TAR and beta otherwise. Soft constraint: alpha = beta = w (-0.07 for
 * large models, -0.15 for small ones); hard constraint: alpha = 0, beta = -1.
 */
export type Constraint = 'soft' | 'hard';

export interface RewardSettings {
  targetMs: number;
  constraint: Constraint;
  /** The exponent w of the soft constraint. */
  w: number;
}

export function reward(accuracy: number, latencyMs: number, settings: RewardSettings): number {
  const ratio = latencyMs / settings.targetMs;
  const exponent = settings.constraint === 'hard' ? (latencyMs <= settings.targetMs ? 0 : -1) : settings.w;
  return accuracy * ratio ** exponent;
}
