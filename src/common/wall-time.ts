/**
 * The wall time of a run over all the sessions that worked on it (a run interrupted and resumed
 * has several): what earlier sessions recorded plus this session's so far.
 */
import { type Logger, silentLogger } from './log.js';

/** How often a running session's wall time is saved, so that a kill -9 loses at most this much of it. */
export const WALL_TIME_SAVE_MS = 60_000;

/** Calls `save` every `everyMs`, one call at a time (a failed one is logged), until `stop`, which waits for a call in flight. */
export function saveEvery(everyMs: number, save: () => Promise<void>, log: Logger): { stop: () => Promise<void> } {
  let saving = Promise.resolve();
  const timer = setInterval(() => {
    saving = saving.then(save).catch((err: unknown) => log.warn({ err }, 'could not save the wall time'));
  }, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return saving;
    },
  };
}

/**
 * A run's wall time from the start of this session: `earlierSeconds` (what the run recorded of its
 * earlier sessions) plus this session's. Given `save`, the total is saved every `everyMs` while the
 * session runs and once more when it stops, however it ends (finished, failed or interrupted).
 */
export class RunWallTime {
  private readonly started = performance.now();
  private stoppedAt: number | null = null;
  private readonly saver: { stop: () => Promise<void> } | null;

  constructor(
    readonly earlierSeconds: number,
    private readonly save?: (totalSeconds: number) => Promise<void>,
    log: Logger = silentLogger,
    everyMs = WALL_TIME_SAVE_MS,
  ) {
    this.saver = save ? saveEvery(everyMs, () => save(this.totalSeconds()), log) : null;
  }

  /** This session's seconds, until it stopped. */
  sessionSeconds(): number {
    return ((this.stoppedAt ?? performance.now()) - this.started) / 1000;
  }

  /** The run's seconds over every session, this one until it stopped. */
  totalSeconds(): number {
    return this.earlierSeconds + this.sessionSeconds();
  }

  /** Ends the session: its time stops counting, and the total is saved a last time. */
  async stop(): Promise<void> {
    this.stoppedAt ??= performance.now();
    await this.saver?.stop();
    await this.save?.(this.totalSeconds());
  }
}
