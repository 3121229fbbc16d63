/**
 * What a search needs before any training, derived from its experiment and checked up front: the
 * space, the latency table that prices it (every op of the space present, or with
 * `latency.missing: "estimate"` the missing ones priced once by the table's estimator), the
 * reward's target (resolved from a zoo model if given as one) and the fastest member (so an
 * unreachable target fails at once).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { commandLine } from '../common/command-line.js';
import { InputError } from '../common/errors.js';
import { jsonHash } from '../common/hash.js';
import { FORMAT_SPACES, type ImportFormat } from '../latency-model/predict/import.js';
import { loadTable, tablePath } from '../latency-model/predict/load-table.js';
import { deployedLatencyMs } from '../latency-model/predict/predict.js';
import { type CompletedTable, fastestLatency, missingSpaceKeys, withEstimatedSpaceKeys } from '../latency-model/predict/space-latency.js';
import { type TableRef, tableRef } from '../latency-model/predict/table-ref.js';
import type { LatencyTable } from '../latency-model/predict/table-schema.js';
import type { ChoiceSpace } from '../search-space/choice-space.js';
import { readArchSpec } from '../search-space/io.js';
import { getChoiceSpace } from '../search-space/spaces.js';
import { isZooName, zooSpec } from '../search-space/zoo/index.js';
import { type TrainConfig, trainConfig } from '../trainer/config.js';
import type { Experiment } from './experiment.js';
import type { RewardSettings } from './reward.js';

/** Everything a run needs that is derived from the experiment and checked before any training. */
export interface SearchSetup {
  space: ChoiceSpace;
  /** The table that prices the members: with `latency.missing: "estimate"`, completed for the space. */
  table: LatencyTable;
  /** The space's keys the table lacked, priced by its estimator, and what those estimates could not know. */
  estimated: Pick<CompletedTable, 'estimated' | 'caveats'>;
  /** The table's file, content hash and labels, as the run records them. */
  tableRef: TableRef;
  /** Hash of the space's definition, which run.json records so a resume notices an edited space file. */
  spaceHash: string;
  rewardSettings: RewardSettings;
  fastestMs: number;
  /** Classes of the proxy task (the trained children's classifier). */
  proxyClasses: number;
}

/** The hash of what a space searches: its definition but its description (rewording that changes no member). */
export function spaceDefinitionHash(space: ChoiceSpace): string {
  const { description: _d, ...definition } = space.definition;
  return jsonHash(definition);
}

/** The training recipe of the proxy evaluator's children (the run's seed unless the experiment sets one). */
export function proxyTrainConfig(experiment: Experiment): TrainConfig {
  return trainConfig(
    { ...experiment.proxy.train, seed: experiment.proxy.train.seed ?? experiment.seed },
    `${experiment.name}: proxy.train`,
  );
}

/** A latency target in ms: as given, or a zoo model's (or spec file's) latency on the table at the experiment's input, times its scale. */
export function resolveTargetMs(target: Experiment['reward']['targetMs'], experiment: Experiment, table: LatencyTable): number {
  if (typeof target === 'number') return target;
  const spec = isZooName(target.spec) && !existsSync(target.spec) ? zooSpec(target.spec) : readArchSpec(target.spec);
  return deployedLatencyMs(spec, table, experiment.latency) * target.scale;
}

/** The table that prices the space: as it is when it covers the space, completed by its estimator when the experiment says so. */
function spaceTable(experiment: Experiment, space: ChoiceSpace, table: LatencyTable): CompletedTable {
  const { resolution, classes } = experiment.latency;
  if (experiment.latency.missing === 'estimate') return withEstimatedSpaceKeys(space, table, resolution, classes);
  const missing = missingSpaceKeys(space, table, resolution, classes);
  if (missing.length) throw uncoveredSpaceError(experiment, space, table, missing);
  return { table, estimated: [], caveats: [] };
}

/** The experiment's table; when it is not there, the experiment's own word on how to get it. */
function experimentTable(experiment: Experiment): LatencyTable {
  const { table, obtain } = experiment.latency;
  if (obtain && !existsSync(tablePath(table))) throw new InputError(`${tablePath(table)}: no such latency table; ${obtain}`);
  return loadTable(table);
}

/** One line for a table that lacks ops of the space: how many, the first, and what to do. */
function uncoveredSpaceError(experiment: Experiment, space: ChoiceSpace, table: LatencyTable, missing: string[]): InputError {
  const { resolution } = experiment.latency;
  const head = `table ${table.name} lacks ${missing.length} ops of space ${space.name} at ${resolution}x${resolution} (first missing: ${missing[0]})`;
  if (!table.resolutions.includes(resolution))
    return new InputError(
      `${head}: it was measured at ${table.resolutions.join(', ')} px; set latency.resolution to that or use a table of ${resolution} px`,
    );
  const format = table.source['format'];
  if (table.source.importedFrom && typeof format === 'string' && format in FORMAT_SPACES) {
    const measuredFor = FORMAT_SPACES[format as ImportFormat];
    return new InputError(
      `${head}: it was imported from ${table.source.importedFrom}, measured for space ${measuredFor}; search that space, give a table profiled for ${space.name} (--table FILE), or set latency.missing to "estimate"`,
    );
  }
  const out = experiment.latency.table.endsWith('.json') ? experiment.latency.table : `tables/${experiment.latency.table}.json`;
  return new InputError(
    `${head}: profile them with ${commandLine(['nas', 'profile', '--space', experiment.space, '--resolution', resolution, '--out', out])}, or set latency.missing to "estimate" in the experiment`,
  );
}

export function setupSearch(experiment: Experiment, proxyClasses: number): SearchSetup {
  const space = getChoiceSpace(experiment.space);
  const measured = experimentTable(experiment);
  const { resolution, classes } = experiment.latency;
  const { table, estimated, caveats } = spaceTable(experiment, space, measured);
  const targetMs = resolveTargetMs(experiment.reward.targetMs, experiment, measured);
  const fastestMs = fastestLatency(space, table, resolution, classes);
  if (targetMs < fastestMs) {
    throw new InputError(
      `no architecture of space ${space.name} can meet the target of ${targetMs.toFixed(2)} ms on ${table.name}: its fastest member takes ${fastestMs.toFixed(2)} ms; raise reward.targetMs`,
    );
  }
  return {
    space,
    table,
    estimated: { estimated, caveats },
    tableRef: tableRef(measured, path.resolve(tablePath(experiment.latency.table))),
    spaceHash: spaceDefinitionHash(space),
    rewardSettings: { targetMs, constraint: experiment.reward.constraint, w: experiment.reward.w, beta: experiment.reward.beta },
    fastestMs,
    proxyClasses,
  };
}
