/**
 * The multi-objective reward of MnasNet / MobileNetV3: R(m) = ACC(m) * (LAT(m) / TAR)^w, with
 * w = alpha when LAT <= TAR and beta otherwise. Soft constraint: alpha = beta = w (-0.07 for
 * large models, -0.15 for small ones); hard constraint: alpha = 0, beta = -1.
 *
 * TuNAS's absolute reward, R(m) = ACC(m) + beta * |LAT(m) / TAR - 1| (beta < 0), penalises being
 * faster than the target as much as being slower, so a search lands on the target latency.
 */
export type Constraint = 'soft' | 'hard' | 'absolute';

export interface RewardSettings {
  targetMs: number;
  constraint: Constraint;
  /** The exponent w of the soft constraint. */
  w: number;
  /** The weight of the absolute reward's latency term. */
  beta?: number;
}

export function reward(accuracy: number, latencyMs: number, settings: RewardSettings): number {
  const ratio = latencyMs / settings.targetMs;
  if (settings.constraint === 'absolute') return accuracy + (settings.beta ?? 0) * Math.abs(ratio - 1);
  const exponent = settings.constraint === 'hard' ? (latencyMs <= settings.targetMs ? 0 : -1) : settings.w;
  return accuracy * ratio ** exponent;
}
