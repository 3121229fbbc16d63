/**
 * RL against random search at equal budget: runs `nas search` with each algorithm and seed (or
 * resumes / reuses finished runs in --runs), then writes results/search.md with the best reward of
 * every run, trained children, wall time, the mean of every batch, and the Pareto fronts side by
 * side (results/search-fronts.svg).
 *
 *   node dist/bench/search-compare.js [--experiment bench/experiments/proxy-default.json] [--seeds 0,1,2]
 *       [--algorithms ppo,random] [--budget 48] [--runs runs/compare]
 */
import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { writeFileAtomic } from '../src/common/json-io.js';
import { scatterPlot } from '../src/common/svg.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { paretoFront } from '../src/controller/report.js';
import { SearchRunDir, type SearchSummaryRecord } from '../src/controller/search-run.js';
import type { Trial } from '../src/controller/store.js';
import { benchArguments, numberArgument, numbersArgument, runNasJson, writeSection } from './report.js';

const args = benchArguments({
  experiment: path.join(PROJECT_ROOT, 'bench', 'experiments', 'proxy-default.json'),
  seeds: '0,1,2',
  algorithms: 'ppo,random',
  budget: '48',
  runs: path.join(PROJECT_ROOT, 'runs', 'compare'),
});
const experiment = args.experiment;
const seeds = numbersArgument(args, 'seeds');
const algorithms = args.algorithms.split(',');
const budget = numberArgument(args, 'budget');
const runsDir = args.runs;
const SEARCH_MD = path.join(PROJECT_ROOT, 'results', 'search.md');

/** Runs (or finishes) one search; a run that already has its whole budget is only read. */
function search(algorithm: string, seed: number): { dir: string; summary: SearchSummaryRecord } {
  const dir = path.join(runsDir, `${algorithm}-${seed}`);
  const run = new SearchRunDir(dir);
  const earlier = run.readSummary();
  if (earlier && earlier.trials >= budget) return { dir, summary: earlier };
  const resume = run.isRun();
  const args = resume
    ? ['--resume', dir]
    : ['--experiment', experiment, '--algorithm', algorithm, '--seed', String(seed), '--budget', String(budget), '--out', dir];
  process.stderr.write(`search ${algorithm} seed ${seed}: ${dir}\n`);
  const result = runNasJson('search', args, 'inherit');
  if (result.status !== 0) throw new Error(`nas search ${args.join(' ')} exited with ${result.status}`);
  const summary = run.readSummary();
  if (!summary) throw new Error(`nas search finished without writing ${run.file('summary')}`);
  return { dir, summary };
}

function trialsOf(dir: string): Trial[] {
  const store = new SearchRunDir(dir).trialStore();
  try {
    return store.all();
  } finally {
    store.close();
  }
}

/** Mean of one field over trials (0 for none). */
function meanOf(trials: readonly Trial[], field: (t: Trial) => number): number {
  return trials.reduce((s, t) => s + field(t), 0) / Math.max(trials.length, 1);
}

/** One cell per batch, in batch order: mean reward / mean accuracy / mean latency. */
function batchMeans(trials: readonly Trial[]): string[] {
  const byBatch = new Map<number, Trial[]>();
  for (const t of trials) {
    if (!byBatch.has(t.batch)) byBatch.set(t.batch, []);
    byBatch.get(t.batch)!.push(t);
  }
  return [...byBatch.entries()]
    .sort(([a], [b]) => a - b)
    .map(
      ([, ts]) =>
        `${meanOf(ts, (t) => t.reward).toFixed(3)} / ${(100 * meanOf(ts, (t) => t.accuracy)).toFixed(0)}% / ${meanOf(ts, (t) => t.latencyMs).toFixed(0)} ms`,
    );
}

async function main() {
  const rows: string[][] = [];
  const batchRows: string[][] = [];
  const points: { x: number; y: number; group: string; label: string }[] = [];
  const bestBySeed = new Map<number, Map<string, number>>();
  let targetMs = 0;
  for (const seed of seeds) {
    for (const algorithm of algorithms) {
      const { dir, summary } = search(algorithm, seed);
      targetMs = summary.targetMs;
      const trials = trialsOf(dir);
      const best = summary.best!;
      const lastHalf = trials.slice(Math.floor(trials.length / 2));
      if (!bestBySeed.has(seed)) bestBySeed.set(seed, new Map());
      bestBySeed.get(seed)!.set(algorithm, best.reward);
      rows.push([
        algorithm,
        String(seed),
        String(summary.trials),
        String(summary.trained),
        best.reward.toFixed(4),
        `${(100 * best.accuracy).toFixed(2)}%`,
        best.latencyMs.toFixed(2),
        meanOf(trials, (t) => t.reward).toFixed(4),
        meanOf(lastHalf, (t) => t.reward).toFixed(4),
        String(paretoFront(trials).length),
        (summary.wallSeconds / 60).toFixed(1),
      ]);
      batchRows.push([`${algorithm} ${seed}`, ...batchMeans(trials)]);
      const group = `${algorithm} seed ${seed}`;
      for (const t of paretoFront(trials)) points.push({ x: t.latencyMs, y: 100 * t.accuracy, group, label: `${group}, trial ${t.trial}` });
    }
  }
  const groups = [...new Set(points.map((p) => p.group))];
  const svg = scatterPlot(points, {
    title: `Pareto fronts: ${algorithms.join(' vs ')} (${budget} trials each)`,
    xLabel: 'latency on the embedded table (ms)',
    yLabel: 'proxy validation top-1 (%)',
    lines: groups,
  });
  await writeFileAtomic(path.join(PROJECT_ROOT, 'results', 'search-fronts.svg'), svg);
  const wins = [...bestBySeed.entries()].map(([seed, byAlg]) => {
    const ranked = [...byAlg.entries()].sort((a, b) => b[1] - a[1]);
    return `seed ${seed}: ${ranked[0]![0]} (${ranked.map(([a, r]) => `${a} ${r.toFixed(4)}`).join(', ')})`;
  });
  const section = [
    '## RL against random search at equal budget',
    '',
    `\`node dist/bench/search-compare.js --experiment ${path.relative(PROJECT_ROOT, experiment)} --budget ${budget} --seeds ${seeds.join(',')}\` (${new Date().toISOString().slice(0, 10)}); target ${targetMs.toFixed(2)} ms; run directories in \`${path.relative(PROJECT_ROOT, runsDir)}/\`.`,
    '',
    markdownTable(
      [
        'algorithm',
        'seed',
        'trials',
        'trained',
        'best reward',
        'best acc',
        'best ms',
        'mean reward',
        'mean reward, 2nd half',
        'front size',
        'minutes',
      ],
      rows,
    ),
    '',
    `Best reward per seed: ${wins.join('; ')}.`,
    '',
    'Pareto fronts of every run: `search-fronts.svg`.',
    '',
  ].join('\n');
  const batches = Math.max(...batchRows.map((r) => r.length - 1));
  const batchSection = [
    '## RL against random: batch by batch',
    '',
    'Mean reward / mean proxy accuracy / mean latency of each batch of every run above (the controller is updated after each batch):',
    '',
    markdownTable(
      ['run', ...Array.from({ length: batches }, (_, i) => `batch ${i + 1}`)],
      batchRows.map((r) => [...r, ...Array<string>(batches + 1 - r.length).fill('')]),
    ),
    '',
  ].join('\n');
  await writeSection(section, SEARCH_MD);
  await writeSection(batchSection, SEARCH_MD);
  process.stdout.write(`${section}\n${batchSection}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
