/** When whole models are timed (./whole-model.ts), apart from the timing so that options can show the defaults without loading tfjs. */
export interface SpeedGate {
  /** Time a model only when the machine runs at least this fraction of its full speed. */
  minSpeed: number;
  /** ... but wait no longer than this per model (then time it anyway). */
  maxWaitSeconds: number;
  /**
   * ... and no longer than this in all over a set of models (timeModels), after which models are
   * timed without waiting; default maxWaitSeconds per model of the set.
   */
  maxTotalWaitSeconds?: number;
}

export const DEFAULT_SPEED_GATE: SpeedGate = { minSpeed: 0.95, maxWaitSeconds: 60 };
