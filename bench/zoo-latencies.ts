/** The zoo classifiers priced on a latency table, shared by the benchmarks that compare against the zoo. */

import { deployedLatencyMs } from '../src/latency-model/predict/predict.js';
import type { LatencyTable } from '../src/latency-model/predict/table-schema.js';
import { zooNames, zooSpec } from '../src/search-space/zoo/index.js';

export interface PricedZooModel {
  model: string;
  latencyMs: number;
}

/** Zoo classifiers priced on the table (segmentation and detection models are not in the comparisons). */
export function zooLatencies(table: LatencyTable, input: { resolution: number; classes: number }): PricedZooModel[] {
  return zooNames()
    .map((model) => ({ model, spec: zooSpec(model) }))
    .filter(({ spec }) => (spec.task?.type ?? 'classification') === 'classification')
    .map(({ model, spec }) => ({ model, latencyMs: deployedLatencyMs(spec, table, input) }));
}
