import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { TOOL_NAME } from '../src/common/version.js';
import type { Experiment } from '../src/controller/experiment.js';
import { bestOf, paretoFront, writeSearchOutputs } from '../src/controller/report.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import type { SearchSetup } from '../src/controller/setup.js';
import { type Trial, TrialStore } from '../src/controller/store.js';
import { tinySpec } from './helpers/tiny.js';

function trial(n: number, accuracy: number, latencyMs: number, extra: Partial<Trial> = {}): Trial {
  return {
    trial: n,
    batch: Math.floor(n / 4),
    slot: n % 4,
    choices: [n, n + 1],
    specHash: `hash${n}`,
    spec: JSON.stringify(tinySpec({ name: `child${n}` })),
    latencyMs,
    accuracy,
    reward: accuracy - 0.01 * latencyMs,
    logProb: -1,
    trainSeconds: 2,
    memoised: false,
    error: null,
    finishedAt: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}

const ids = (trials: readonly Trial[]) => trials.map((t) => t.trial);

test('paretoFront: no trials, one trial', (t) => {
  t.deepEqual(paretoFront([]), []);
  t.deepEqual(ids(paretoFront([trial(0, 0.5, 10)])), [0]);
});

test('paretoFront drops dominated trials and orders the front by latency', (t) => {
  const trials = [
    trial(0, 0.7, 30), // front
    trial(1, 0.6, 35), // dominated by 0
    trial(2, 0.5, 10), // front (fastest)
    trial(3, 0.65, 20), // front
    trial(4, 0.6, 25), // dominated by 3
    trial(5, 0.8, 50), // front (most accurate)
    trial(6, 0.4, 12), // dominated by 2
  ];
  t.deepEqual(ids(paretoFront(trials)), [2, 3, 0, 5]);
  t.deepEqual(ids(paretoFront([...trials].reverse())), [2, 3, 0, 5], 'independent of input order');
  t.is(trials[0]!.trial, 0, 'the input is not reordered');
});

test('paretoFront ties: equal latency keeps the more accurate; equal accuracy keeps the faster; exact duplicates once', (t) => {
  t.deepEqual(ids(paretoFront([trial(0, 0.5, 10), trial(1, 0.6, 10)])), [1]);
  t.deepEqual(ids(paretoFront([trial(0, 0.6, 12), trial(1, 0.6, 10)])), [1]);
  t.deepEqual(ids(paretoFront([trial(0, 0.6, 10), trial(1, 0.6, 10), trial(2, 0.7, 11)])), [0, 2]);
});

test('bestOf: the highest reward, the first of equals, null for none', (t) => {
  t.is(bestOf([]), null);
  const trials = [trial(0, 0.5, 10), trial(1, 0.7, 25), trial(2, 0.7, 25), trial(3, 0.9, 100)]; // rewards 0.4, 0.45, 0.45, -0.1
  t.is(bestOf(trials)!.trial, 1);
  t.is(bestOf([trial(0, 0, 0, { reward: -5 }), trial(1, 0, 0, { reward: -2 })])!.trial, 1);
});

const experiment = { name: 'unit', algorithm: 'random', latency: { resolution: 224 } } as unknown as Experiment;
const setup = {
  table: { name: 'fake-table' },
  tableRef: { name: 'fake-table' },
  rewardSettings: { targetMs: 20 },
  fastestMs: 4.5,
} as unknown as SearchSetup;

test('writeSearchOutputs writes best.json, pareto.json, summary.json and the SVGs from a real trial store', async (t) => {
  const runDir = mkdtempSync(path.join(tmpdir(), 'nas-report-'));
  const run = new SearchRunDir(runDir);
  const store = new TrialStore(run.file('trials'));
  t.teardown(() => store.close());
  const trials = [
    trial(0, 0.5, 10), // reward 0.4, front
    trial(1, 0.7, 25), // reward 0.45 (best), front
    trial(2, 0.6, 30), // reward 0.3, dominated by 1
    trial(3, 0.7, 25, { memoised: true, specHash: 'hash1' }), // same architecture as 1, not trained again; reward 0.45 (tie: first stays best)
    trial(4, 0, 15, { error: 'diverged', reward: -1 }),
  ];
  for (const tr of trials) store.add(tr);

  const summary = await writeSearchOutputs({ run, store, experiment, setup, wallSeconds: 12.5, sessionWallSeconds: 2.5, seed: 7 });

  const bestFile = path.join(runDir, 'best.json');
  t.deepEqual(summary, {
    trials: 5,
    best: { trial: 1, accuracy: 0.7, latencyMs: 25, reward: 0.7 - 0.25, spec: bestFile },
    runDir,
    wallSeconds: 12.5,
    sessionWallSeconds: 2.5,
  });

  const best = JSON.parse(readFileSync(bestFile, 'utf8'));
  t.is(best.name, 'unit-best');
  t.deepEqual(best.blocks, tinySpec().blocks);
  t.is(best.provenance.source, 'search unit, trial 1: accuracy 0.7000, 25.00 ms at 224x224 on fake-table');
  t.is(best.provenance.command, 'test', 'the child provenance is kept');
  // How it was priced, so that nas latency and nas netadapt price it again as the search did (the fixture sets no latency.missing).
  t.deepEqual(best.provenance.deployment, { resolution: 224, table: 'fake-table', missing: 'error' });

  const pareto = JSON.parse(readFileSync(path.join(runDir, 'pareto.json'), 'utf8'));
  t.like(pareto, { schemaVersion: 1, kind: 'pareto-front', tool: TOOL_NAME, table: 'fake-table', targetMs: 20 });
  t.deepEqual(pareto.front, [
    { trial: 0, accuracy: 0.5, latencyMs: 10, reward: 0.4, choices: [0, 1], specHash: 'hash0' },
    { trial: 1, accuracy: 0.7, latencyMs: 25, reward: 0.7 - 0.25, choices: [1, 2], specHash: 'hash1' },
  ]);

  const written = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8'));
  t.deepEqual(written, {
    schemaVersion: 1,
    kind: 'search-summary',
    tool: TOOL_NAME,
    experiment: 'unit',
    algorithm: 'random',
    seed: 7,
    table: 'fake-table',
    targetMs: 20,
    fastestMs: 4.5,
    trained: 4,
    errors: 1,
    paretoFront: 2,
    ...summary,
  });
  t.deepEqual(run.readSummary(), written, 'the run directory reads back what it wrote');

  for (const svg of ['pareto.svg', 'reward.svg']) t.regex(readFileSync(path.join(runDir, svg), 'utf8'), /^<svg[\s\S]*<\/svg>\s*$/, svg);
  t.deepEqual(
    readdirSync(runDir).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('writeSearchOutputs with no trials writes no best.json and a null best', async (t) => {
  const runDir = mkdtempSync(path.join(tmpdir(), 'nas-report-'));
  const run = new SearchRunDir(runDir);
  const store = new TrialStore(run.file('trials'));
  t.teardown(() => store.close());
  const summary = await writeSearchOutputs({ run, store, experiment, setup, wallSeconds: 0, sessionWallSeconds: 0, seed: 1 });
  t.is(summary.best, null);
  t.false(readdirSync(runDir).includes('best.json'));
  const pareto = JSON.parse(readFileSync(path.join(runDir, 'pareto.json'), 'utf8'));
  t.deepEqual(pareto.front, []);
  const written = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8'));
  t.like(written, { trials: 0, best: null, trained: 0, errors: 0, paretoFront: 0 });
});

test('a search summary is validated on read: a bad field names the file and its JSON path; none yet reads as null', async (t) => {
  const run = new SearchRunDir(mkdtempSync(path.join(tmpdir(), 'nas-summary-')));
  t.is(run.readSummary(), null);
  writeFileSync(run.file('summary'), JSON.stringify({ schemaVersion: 1, kind: 'search-summary', trials: 'many' }));
  const error = t.throws(() => run.readSummary());
  t.true(error.message.includes(run.file('summary')), error.message);
  t.regex(error.message, /trials/);
});
