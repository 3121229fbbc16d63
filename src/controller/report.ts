/** The outputs of a search run: best.json, the Pareto front (JSON + SVG), the reward curve, summary.json. */
import path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../common/json-io.js';
import { scatterPlot } from '../common/svg.js';
import { TOOL_NAME } from '../common/version.js';
import type { ArchSpec } from '../search-space/archspec.js';
import type { Experiment } from './experiment.js';
import type { SearchSetup } from './search.js';
import type { Trial, TrialStore } from './store.js';

export interface SearchSummary {
  trials: number;
  best: { trial: number; accuracy: number; latencyMs: number; reward: number; spec: string } | null;
  runDir: string;
  wallSeconds: number;
}

/** Trials no other trial beats on both accuracy (higher) and latency (lower), by latency. */
export function paretoFront(trials: readonly Trial[]): Trial[] {
  const sorted = [...trials].sort((a, b) => a.latencyMs - b.latencyMs || b.accuracy - a.accuracy);
  const front: Trial[] = [];
  for (const t of sorted) if (!front.length || t.accuracy > front[front.length - 1]!.accuracy) front.push(t);
  return front;
}

export async function writeSearchOutputs(options: {
  runDir: string;
  store: TrialStore;
  experiment: Experiment;
  setup: SearchSetup;
  wallSeconds: number;
  seed: number;
}): Promise<SearchSummary> {
  const { runDir, store, experiment, setup } = options;
  const trials = store.all();
  const best = trials.reduce<Trial | null>((b, t) => (!b || t.reward > b.reward ? t : b), null);
  const front = paretoFront(trials);
  const bestFile = path.join(runDir, 'best.json');
  if (best) {
    const spec = JSON.parse(best.spec) as ArchSpec;
    await writeJsonAtomic(bestFile, {
      ...spec,
      name: `${experiment.name}-best`,
      provenance: {
        ...spec.provenance,
        source: `search ${experiment.name}, trial ${best.trial}: accuracy ${best.accuracy.toFixed(4)}, ${best.latencyMs.toFixed(2)} ms at ${experiment.latency.resolution}x${experiment.latency.resolution} on ${setup.table.name}`,
      },
    });
  }
  const describe = (t: Trial) => ({
    trial: t.trial,
    accuracy: t.accuracy,
    latencyMs: t.latencyMs,
    reward: t.reward,
    choices: t.choices,
    specHash: t.specHash,
  });
  await writeJsonAtomic(path.join(runDir, 'pareto.json'), {
    schemaVersion: 1,
    kind: 'pareto-front',
    tool: TOOL_NAME,
    table: setup.table.name,
    targetMs: setup.rewardSettings.targetMs,
    front: front.map(describe),
  });
  const label = (t: Trial) => `trial ${t.trial}: ${(100 * t.accuracy).toFixed(2)}%, ${t.latencyMs.toFixed(2)} ms`;
  await writeFileAtomic(
    path.join(runDir, 'pareto.svg'),
    scatterPlot(
      [
        ...trials.map((t) => ({ x: t.latencyMs, y: 100 * t.accuracy, group: 'trials', label: label(t) })),
        ...front.map((t) => ({ x: t.latencyMs, y: 100 * t.accuracy, group: 'Pareto front', label: label(t) })),
      ],
      {
        title: `${experiment.name}: accuracy vs latency (${trials.length} trials)`,
        xLabel: `latency on ${setup.table.name} (ms)`,
        yLabel: 'proxy validation top-1 (%)',
        lines: ['Pareto front'],
      },
    ),
  );
  let running = -Infinity;
  await writeFileAtomic(
    path.join(runDir, 'reward.svg'),
    scatterPlot(
      trials.flatMap((t) => {
        running = Math.max(running, t.reward);
        return [
          { x: t.trial, y: t.reward, group: 'reward' },
          { x: t.trial, y: running, group: 'best so far' },
        ];
      }),
      {
        title: `${experiment.name}: reward per trial (${experiment.algorithm})`,
        xLabel: 'trial',
        yLabel: 'reward',
        lines: ['best so far'],
      },
    ),
  );
  const summary: SearchSummary = {
    trials: trials.length,
    best: best && { trial: best.trial, accuracy: best.accuracy, latencyMs: best.latencyMs, reward: best.reward, spec: bestFile },
    runDir,
    wallSeconds: options.wallSeconds,
  };
  await writeJsonAtomic(path.join(runDir, 'summary.json'), {
    schemaVersion: 1,
    kind: 'search-summary',
    tool: TOOL_NAME,
    experiment: experiment.name,
    algorithm: experiment.algorithm,
    seed: options.seed,
    table: setup.table.name,
    targetMs: setup.rewardSettings.targetMs,
    fastestMs: setup.fastestMs,
    trained: trials.filter((t) => !t.memoised).length,
    errors: trials.filter((t) => t.error).length,
    paretoFront: front.length,
    ...summary,
  });
  return summary;
}
