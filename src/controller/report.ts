/** The outputs of a search run: best.json, the Pareto front (JSON + SVG), the reward curve, summary.json. */
import { writeFileAtomic, writeJsonAtomic } from '../common/json-io.js';
import { scatterPlot } from '../common/svg.js';
import { TOOL_NAME } from '../common/version.js';
import type { ArchSpec } from '../search-space/archspec.js';
import type { Experiment } from './experiment.js';
import type { SearchRunDir, SearchSummaryRecord } from './search-run.js';
import type { SearchSetup } from './setup.js';
import type { Trial, TrialStore } from './store.js';

/** What a search returns to its caller: the core of its summary.json. */
export type SearchSummary = Pick<SearchSummaryRecord, 'trials' | 'best' | 'runDir' | 'wallSeconds'> & { sessionWallSeconds: number };

/** The trial with the highest reward (the first of equals), or null for none. */
export function bestOf(trials: readonly Trial[]): Trial | null {
  return trials.reduce<Trial | null>((best, t) => (!best || t.reward > best.reward ? t : best), null);
}

/** Trials no other trial beats on both accuracy (higher) and latency (lower), by latency. */
export function paretoFront(trials: readonly Trial[]): Trial[] {
  const sorted = [...trials].sort((a, b) => a.latencyMs - b.latencyMs || b.accuracy - a.accuracy);
  const front: Trial[] = [];
  for (const t of sorted) if (!front.length || t.accuracy > front[front.length - 1]!.accuracy) front.push(t);
  return front;
}

/** The architecture a run settles on when it is not simply its best trial. */
export interface ChosenArchitecture {
  spec: ArchSpec;
  accuracy: number;
  latencyMs: number;
  reward: number;
  /** How it was chosen, for the spec's provenance. */
  source: string;
}

interface SearchOutputs {
  run: SearchRunDir;
  store: TrialStore;
  experiment: Experiment;
  setup: SearchSetup;
  /** The run's wall time over every session, and this session's. */
  wallSeconds: number;
  sessionWallSeconds: number;
  seed: number;
  /** best.json (default: the trial with the highest reward). */
  chosen?: ChosenArchitecture;
  /** Extra fields of summary.json. */
  extra?: Record<string, unknown>;
}

/** Writes every output of a finished (or extended) run from its trial store. */
export async function writeSearchOutputs(options: SearchOutputs): Promise<SearchSummary> {
  const { run, store } = options;
  const trials = store.all();
  const bestTrial = bestOf(trials);
  const front = paretoFront(trials);
  const chosen = options.chosen ?? (bestTrial && trialChoice(options.experiment, bestTrial));
  if (chosen) await writeBestSpec(options, chosen);
  await writeParetoFront(options, trials, front);
  await writeRewardPlot(options, trials);
  const summary: SearchSummary = {
    trials: trials.length,
    best: chosen && {
      trial: options.chosen ? null : bestTrial!.trial,
      accuracy: chosen.accuracy,
      latencyMs: chosen.latencyMs,
      reward: chosen.reward,
      spec: run.file('best'),
    },
    runDir: run.dir,
    wallSeconds: options.wallSeconds,
    sessionWallSeconds: options.sessionWallSeconds,
  };
  const { experiment, setup } = options;
  await run.writeSummary(
    {
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
    },
    options.extra,
  );
  return summary;
}

function trialChoice(experiment: Experiment, trial: Trial): ChosenArchitecture {
  return {
    spec: JSON.parse(trial.spec) as ArchSpec,
    accuracy: trial.accuracy,
    latencyMs: trial.latencyMs,
    reward: trial.reward,
    source: `search ${experiment.name}, trial ${trial.trial}`,
  };
}

/**
 * best.json's spec: the chosen architecture under the experiment's name, its provenance recording
 * the deployment input its latency was priced at, the table and how the ops that table lacks were
 * priced (`missing`), so that `nas latency` and `nas netadapt` price it as the search did.
 */
export function bestSpecRecord(experiment: Experiment, setup: SearchSetup, best: ChosenArchitecture): ArchSpec {
  const { resolution, classes } = experiment.latency;
  return {
    ...best.spec,
    name: `${experiment.name}-best`,
    provenance: {
      ...best.spec.provenance,
      deployment: {
        resolution,
        classes,
        table: setup.tableRef.name,
        ...(setup.tableRef.file ? { tableFile: setup.tableRef.file } : {}),
        missing: experiment.latency.missing ?? 'error',
      },
      source: `${best.source}: accuracy ${best.accuracy.toFixed(4)}, ${best.latencyMs.toFixed(2)} ms at ${resolution}x${resolution} on ${setup.table.name}`,
    },
  };
}

async function writeBestSpec({ run, experiment, setup }: SearchOutputs, best: ChosenArchitecture): Promise<void> {
  await writeJsonAtomic(run.file('best'), bestSpecRecord(experiment, setup, best));
}

async function writeParetoFront(
  { run, experiment, setup }: SearchOutputs,
  trials: readonly Trial[],
  front: readonly Trial[],
): Promise<void> {
  const describe = (t: Trial) => ({
    trial: t.trial,
    accuracy: t.accuracy,
    latencyMs: t.latencyMs,
    reward: t.reward,
    choices: t.choices,
    specHash: t.specHash,
  });
  await writeJsonAtomic(run.file('pareto'), {
    schemaVersion: 1,
    kind: 'pareto-front',
    tool: TOOL_NAME,
    table: setup.table.name,
    targetMs: setup.rewardSettings.targetMs,
    front: front.map(describe),
  });
  const label = (t: Trial) => `trial ${t.trial}: ${(100 * t.accuracy).toFixed(2)}%, ${t.latencyMs.toFixed(2)} ms`;
  await writeFileAtomic(
    run.file('paretoPlot'),
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
}

async function writeRewardPlot({ run, experiment }: SearchOutputs, trials: readonly Trial[]): Promise<void> {
  let running = -Infinity;
  await writeFileAtomic(
    run.file('rewardPlot'),
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
}
