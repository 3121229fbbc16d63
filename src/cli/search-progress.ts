/** The status line of a search in progress, for `nas search` and the search stage of `nas pipeline`. */
import type { SearchProgress } from '../controller/search.js';
import type { SearchJobProgress } from '../controller/search-job.js';
import type { SupernetProgress } from '../supernet/search.js';
import { formatDuration, type ProgressLine } from './progress.js';

/** `started`: when this process began the search (the proxy evaluator's ETA is the time per trial it has trained since then). */
export function searchProgressLine(p: SearchJobProgress, started: number): ProgressLine {
  return p.evaluator === 'proxy' ? trialLine(p, started) : supernetLine(p);
}

/** The proxy evaluator's progress: trials done, the best so far, the last one, the ETA. */
function trialLine({ trials, trialsBefore, budget, best, last }: SearchProgress, started: number): ProgressLine {
  const elapsed = (Date.now() - started) / 1000;
  const eta = (elapsed / (trials - trialsBefore)) * (budget - trials);
  return {
    fraction: trials / budget,
    text: `trial ${trials}/${budget} best reward ${best!.reward.toFixed(4)} (${(100 * best!.accuracy).toFixed(1)}% at ${best!.latencyMs.toFixed(1)} ms) last ${(100 * last.accuracy).toFixed(1)}% ${last.latencyMs.toFixed(1)} ms ${formatDuration(elapsed)} ETA ${formatDuration(eta)}`,
    fields: { trials, bestReward: best!.reward, bestAccuracy: best!.accuracy, bestLatencyMs: best!.latencyMs },
  };
}

/** The supernet evaluator's progress: its training steps, then the ranking of candidates. */
function supernetLine(p: SupernetProgress): ProgressLine {
  const done = p.ranked ? p.ranked.done / p.ranked.of : p.step / p.steps;
  const last = p.last ? ` last ${(100 * p.last.accuracy).toFixed(0)}% ${p.last.latencyMs.toFixed(1)} ms` : '';
  const guess = p.bestGuessMs === null ? '' : ` controller's pick ${p.bestGuessMs.toFixed(1)} ms`;
  const text = p.ranked
    ? `${p.phase === 'fine-tune' ? 'fine-tuning' : 'ranking'} candidate ${p.ranked.done}/${p.ranked.of}`
    : `${p.phase} step ${p.step}/${p.steps} loss ${p.loss?.toFixed(3) ?? '-'}${last}${guess} ${p.imagesPerSec.toFixed(0)} img/s ETA ${formatDuration(p.etaSeconds)}`;
  return { fraction: done, text, fields: { phase: p.phase, step: p.step, trials: p.trials, loss: p.loss, bestGuessMs: p.bestGuessMs } };
}
