/** A tiny search space, a synthetic table covering it, and a surrogate evaluator for fast search tests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Experiment, parseExperiment, readExperiment } from '../../src/controller/experiment.js';
import { SearchRunDir } from '../../src/controller/search-run.js';
import { opKey, specOps, unitOp } from '../../src/latency-model/predict/ops.js';
import { predictLatency } from '../../src/latency-model/predict/predict.js';
import { fastestLatency } from '../../src/latency-model/predict/space-latency.js';
import type { LatencyTable } from '../../src/latency-model/predict/table-schema.js';
import type { ArchSpec } from '../../src/search-space/archspec.js';
import { ChoiceSpace, parseSearchSpace, type SearchSpaceDefinition } from '../../src/search-space/choice-space.js';
import { specCost } from '../../src/search-space/cost.js';
import type { Evaluation, Evaluator } from '../../src/trainer/training-pool.js';
import { latencyTable, maddsLatencies } from './tables.js';

export function tinySpaceDefinition(): SearchSpaceDefinition {
  const stage = (id: string, baseFilters: number, baseLayers: number, stride: 1 | 2) => ({
    id,
    baseFilters,
    baseLayers,
    stride,
    op: { choice: ['dsconv', 'mbconv3', 'mbconv6'] },
    kernel: { choice: [3, 5] },
    seRatio: { choice: [0, 0.25] },
    skip: true,
    filterMultiplier: { choice: [0.5, 1.0] },
    layerDelta: { choice: [0, 1] },
    activation: { choice: ['relu', 'hswish'] },
  });
  return parseSearchSpace(
    {
      schemaVersion: 1,
      kind: 'search-space',
      name: 'tiny',
      description: 'two stages, for tests',
      input: { resolution: 16, channels: 1 },
      stem: { kernel: 3, stride: 2, out: 8, activation: 'hswish' },
      stages: [stage('s1', 16, 1, 1), stage('s2', 24, 1, 2)],
      head: { conv: { out: 32, activation: 'hswish' }, preLogits: null },
      se: { base: 'mid', round: '8', gate: 'hsigmoid', activation: 'relu' },
      classes: [10],
      dropout: 0,
    },
    'tiny space',
  );
}

/**
 * A tiny space whose first stage draws its op (MBConv3, MBConv6 or zero) and kernel per layer, with
 * 2 or 3 layers, and whose second stage is whole-stage (dsconv or MBConv3, width x0.5 or x1, 1 or 2
 * layers): 2304 choice vectors, 672 distinct members.
 */
export function perLayerSpaceDefinition(): SearchSpaceDefinition {
  const fixed = { seRatio: 0, skip: true, activation: 'relu' };
  return parseSearchSpace(
    {
      schemaVersion: 1,
      kind: 'search-space',
      name: 'tiny-per-layer',
      description: 'a per-layer stage and a whole-stage one, for tests',
      input: { resolution: 16, channels: 1 },
      stem: { kernel: 3, stride: 2, out: 8, activation: 'hswish' },
      stages: [
        {
          id: 's1',
          baseFilters: 16,
          baseLayers: 2,
          stride: 1,
          op: { choice: ['mbconv3', 'mbconv6', 'zero'] },
          kernel: { choice: [3, 5] },
          filterMultiplier: 1,
          layerDelta: { choice: [0, 1] },
          perLayer: ['op', 'kernel'],
          ...fixed,
        },
        {
          id: 's2',
          baseFilters: 24,
          baseLayers: 1,
          stride: 2,
          op: { choice: ['dsconv', 'mbconv3'] },
          kernel: 3,
          filterMultiplier: { choice: [0.5, 1] },
          layerDelta: { choice: [0, 1] },
          ...fixed,
        },
      ],
      head: { conv: { out: 32, activation: 'hswish' }, preLogits: null },
      se: { base: 'mid', round: '8', gate: 'hsigmoid', activation: 'relu' },
      classes: [10],
      dropout: 0,
    },
    'tiny per-layer space',
  );
}

/** Every choice vector of a space, in order (for brute force over tiny spaces). */
export function* allChoices(space: ChoiceSpace): Iterable<number[]> {
  const counts = space.choicePoints.map((c) => c.options.length);
  const choices = counts.map(() => 0);
  for (;;) {
    yield [...choices];
    let i = 0;
    while (i < counts.length && ++choices[i]! === counts[i]) choices[i++] = 0;
    if (i === counts.length) return;
  }
}

/**
 * Brute force over every member of a small space (at its resolution, its first classifier width):
 * the members, the ops of theirs that the space's `units()` does not list (`member choices: op key`),
 * and the fastest member's latency on the table beside what the space's dynamic programme finds.
 */
export function everyMember(space: ChoiceSpace, table: LatencyTable) {
  const listed = new Set([...space.units()].map((u) => opKey(unitOp(u))));
  const specs: ArchSpec[] = [];
  const notListed: string[] = [];
  let fastestMs = Infinity;
  for (const choices of allChoices(space)) {
    const spec = space.materialise(choices);
    specs.push(spec);
    for (const op of specOps(spec)) if (!listed.has(op.key)) notListed.push(`${choices.join('')}: ${op.key}`);
    fastestMs = Math.min(fastestMs, predictLatency(spec, table).totalMs);
  }
  const dpFastestMs = fastestLatency(space, table, space.resolution, space.definition.classes[0]!);
  return { specs, notListed, fastestMs, dpFastestMs };
}

/** A table for every op of the space, with latency proportional to multiply-adds (plus a floor). */
export function syntheticTable(space: ChoiceSpace, resolution = space.resolution): LatencyTable {
  return latencyTable(maddsLatencies(space.units(resolution)), { resolutions: [resolution], overheadMs: 0.1 });
}

/** Accuracy that rises with log(params): deterministic, instant, and something to learn. */
export class SurrogateEvaluator implements Evaluator {
  calls = 0;
  async evaluate(spec: ArchSpec): Promise<Evaluation> {
    this.calls++;
    const params = specCost(spec).params;
    return { accuracy: 0.5 + 0.04 * Math.log10(params), seconds: 0, imagesPerSec: 0, error: null };
  }
  async close(): Promise<void> {}
}

export function tinyExperiment(spaceFile: string, tableFile: string, overrides: Partial<Experiment> = {}): Experiment {
  return parseExperiment(
    {
      schemaVersion: 1,
      kind: 'experiment',
      name: 'tiny-search',
      space: spaceFile,
      algorithm: 'reinforce',
      budget: 12,
      batchSize: 4,
      seed: 3,
      reward: { targetMs: 0.5, constraint: 'soft', w: -0.15 },
      latency: { table: tableFile, resolution: 16, classes: 10 },
      proxy: { dataset: 'fashion-mnist', resolution: 16, train: { epochs: 1, trainSamples: 64, validationSamples: 32, batchSize: 16 } },
      controller: { hidden: 16, embedding: 8 },
      parallel: 1,
      ...overrides,
    },
    'tiny experiment',
  );
}

/**
 * A temp directory with the tiny space, its synthetic table and a tiny experiment over them, as
 * files for the CLI. `latencyResolution`: the deployed model's, where the table is profiled
 * (default: the proxy's 16).
 */
export function tinySearchFiles(
  overrides: Partial<Experiment> = {},
  latencyResolution = 16,
): { dir: string; experimentFile: string; tableFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-tiny-search-'));
  const spaceFile = path.join(dir, 'space.json');
  writeFileSync(spaceFile, JSON.stringify(tinySpaceDefinition()));
  const tableFile = path.join(dir, 'table.json');
  writeFileSync(tableFile, JSON.stringify(syntheticTable(new ChoiceSpace(tinySpaceDefinition()), latencyResolution)));
  const experimentFile = path.join(dir, 'experiment.json');
  const latency = { table: tableFile, resolution: latencyResolution, classes: 10 };
  writeFileSync(experimentFile, JSON.stringify(tinyExperiment(spaceFile, tableFile, { latency, ...overrides })));
  return { dir, experimentFile, tableFile };
}

/** A search run's directory in `dir` as `nas search` starts it: run.json of the tiny experiment, written by SearchRunDir. */
export async function startedSearchRun(dir: string): Promise<SearchRunDir> {
  const files = tinySearchFiles();
  const experiment = readExperiment(files.experimentFile);
  const table = { name: 'synthetic', file: files.tableFile, hash: '0123456789abcdef', device: 'synthetic', runtime: 'none', version: null };
  const run = new SearchRunDir(dir);
  await run.writeRecord({ command: 'nas search (test)', experiment, targetMs: 0.5, fastestMs: 0.2, table, spaceHash: 'space' });
  return run;
}
