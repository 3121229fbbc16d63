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
import { checkingField, InputError } from '../common/errors.js';
import { jsonHash } from '../common/hash.js';
import { type Logger, silentLogger } from '../common/log.js';
import { FORMAT_SPACES, type ImportFormat } from '../latency-model/predict/import.js';
import { loadTable, tablePath } from '../latency-model/predict/load-table.js';
import { deployedLatencyMs } from '../latency-model/predict/predict.js';
import { type CompletedTable, fastestLatency, missingSpaceKeys, withEstimatedSpaceKeys } from '../latency-model/predict/space-latency.js';
import { type TableRef, tableRef } from '../latency-model/predict/table-ref.js';
import type { LatencyTable } from '../latency-model/predict/table-schema.js';
import type { ChoiceSpace } from '../search-space/choice-space.js';
import { zooOrFileSpec } from '../search-space/io.js';
import { getChoiceSpace } from '../search-space/spaces.js';
import { type TrainConfig, trainConfig } from '../trainer/config.js';
import { checkSearchDataset } from '../trainer/data/source.js';
import { type Experiment, failureSource, ignoredSettings, readExperiment, withTable } from './experiment.js';
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
  return deployedLatencyMs(zooOrFileSpec(target.spec), table, experiment.latency) * target.scale;
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

/** Refuses a target the space's fastest member is slower than. */
function checkReachable(space: ChoiceSpace, table: LatencyTable, targetMs: number, fastestMs: number): void {
  if (targetMs >= fastestMs) return;
  throw new InputError(
    `no architecture of space ${space.name} can meet the target of ${targetMs.toFixed(2)} ms on ${table.name}: its fastest member takes ${fastestMs.toFixed(2)} ms; raise reward.targetMs`,
  );
}

/**
 * Checks the experiment and derives what its run needs. `source`: the file the experiment was read
 * from, named with the field in each failure (`FILE: $.latency.table: ...`); absent for one built in
 * code or recorded by a run.
 */
export function setupSearch(experiment: Experiment, proxyClasses: number, source?: string): SearchSetup {
  const inField = <T>(field: string, check: () => T) => checkingField(source, field, check);
  const space = inField('$.space', () => getChoiceSpace(experiment.space));
  // Else only the first member built or trained, in a run directory already written, would say so.
  inField('$.proxy.resolution', () => space.checkResolution(experiment.proxy.resolution));
  inField('$.proxy.dataset', () => checkSearchDataset(experiment.proxy.dataset));
  const measured = inField('$.latency.table', () => experimentTable(experiment));
  const { resolution, classes } = experiment.latency;
  const { table, estimated, caveats } = inField('$.latency.table', () => spaceTable(experiment, space, measured));
  const targetMs = inField('$.reward.targetMs', () => resolveTargetMs(experiment.reward.targetMs, experiment, measured));
  const fastestMs = fastestLatency(space, table, resolution, classes);
  inField('$.reward.targetMs', () => checkReachable(space, table, targetMs, fastestMs));
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

/**
 * An experiment file checked as a search checks it before writing its run directory: read
 * (readExperiment) and set up, each failure naming the file and the field; the settings its
 * evaluator ignores are warned of. The proxy task's classes would take loading its dataset: the
 * setup has the deployed model's instead.
 */
export function checkExperimentFile(
  file: string,
  log: Logger = silentLogger,
  table?: string,
): { experiment: Experiment; setup: SearchSetup } {
  const experiment = withTable(readExperiment(file), table);
  const setup = setupSearch(experiment, experiment.latency.classes, failureSource(file, table));
  for (const warning of ignoredSettings(experiment)) log.warn(`${file}: ${warning}`);
  return { experiment, setup };
}
