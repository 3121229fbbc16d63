/** The status line of NetAdapt in progress, for `nas netadapt` and the NetAdapt stage of `nas pipeline`. */
import type { NetAdaptJobProgress } from '../netadapt/netadapt-job.js';
import { formatDuration, type ProgressLine, trainingProgressLine } from './progress.js';

/** Its steps (proposals fine-tuned in the current one), then its final training. `started`: when this process began. */
export function netadaptProgressLine(p: NetAdaptJobProgress, started: number): ProgressLine {
  if (p.phase === 'final-training') return trainingProgressLine(p, 'final training: ');
  return {
    fraction: p.proposalsDone / p.proposals,
    text: `step ${p.step}: ${p.latencyMs.toFixed(2)} -> ${p.targetMs.toFixed(2)} ms, accuracy ${(100 * p.accuracy).toFixed(1)}%, proposals ${p.proposalsDone}/${p.proposals} ${formatDuration((Date.now() - started) / 1000)}`,
    fields: { step: p.step, latencyMs: p.latencyMs, proposalsDone: p.proposalsDone },
  };
}
