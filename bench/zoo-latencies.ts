/** The zoo classifiers priced on a latency table, shared by the benchmarks that compare against the zoo. */

import { predictLatency } from '../src/latency-model/predict/predict.js';
import type { LatencyTable } from '../src/latency-model/predict/table-schema.js';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { withInput } from '../src/search-space/io.js';
import { zooNames, zooSpec } from '../src/search-space/zoo/index.js';

export interface PricedZooModel {
  model: string;
  latencyMs: number;
}

/** A spec's predicted latency on the table at the given input (the latency section's resolution and classes). */
export function latencyAt(spec: ArchSpec, table: LatencyTable, input: { resolution: number; classes: number }): number {
  return predictLatency(withInput(spec, input), table).totalMs;
}

/** Zoo classifiers priced on the table (segmentation and detection models are not in the comparisons). */
export function zooLatencies(table: LatencyTable, input: { resolution: number; classes: number }): PricedZooModel[] {
  return zooNames()
    .map((model) => ({ model, spec: zooSpec(model) }))
    .filter(({ spec }) => (spec.task?.type ?? 'classification') === 'classification')
    .map(({ model, spec }) => ({ model, latencyMs: latencyAt(spec, table, input) }));
}
