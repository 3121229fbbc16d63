/** Reading specs from disk and adapting them to another input size or class count. */
import { readJsonFile } from '../common/json-io.js';
import { type ArchSpec, parseArchSpec } from './archspec.js';

export function readArchSpec(file: string): ArchSpec {
  return parseArchSpec(readJsonFile(file), file);
}

export interface InputOverrides {
  resolution?: number | undefined;
  classes?: number | undefined;
}

/** The same architecture at another resolution and/or with another classifier width. */
/**
 * The input a spec is deployed at, when its provenance records one: a searched architecture is
 * written at the proxy task's resolution and classes (what `nas train` trains) and remembers the
 * deployment input its latency was priced at (`provenance.deployment`).
 */
export function deploymentInput(spec: ArchSpec): { resolution: number; classes: number } | null {
  const deployment = (spec.provenance as { deployment?: { resolution?: unknown; classes?: unknown } } | undefined)?.deployment;
  if (!deployment || !Number.isInteger(deployment.resolution) || !Number.isInteger(deployment.classes)) return null;
  return { resolution: deployment.resolution as number, classes: deployment.classes as number };
}

/** How ops a table lacks were priced: refused (`error`), the table's estimator, interpolation, or measured here. */
export const MISSING_POLICIES = ['error', 'estimate', 'interpolate', 'measure'] as const;
export type MissingPolicy = (typeof MISSING_POLICIES)[number];

/**
 * The table a spec's deployed latency was priced on and how that pricing treated the ops the table
 * lacks, when its provenance records them (`provenance.deployment.table`, `.missing`: a search with
 * `latency.missing: "estimate"` prices ops its table lacks with the table's estimator, and so must
 * everything that prices the spec again to get the same number).
 */
export function deploymentPricing(spec: ArchSpec): { table: string; missing: MissingPolicy } | null {
  const deployment = (spec.provenance as { deployment?: { table?: unknown; missing?: unknown } } | undefined)?.deployment;
  if (!deployment || typeof deployment.table !== 'string') return null;
  const missing = MISSING_POLICIES.find((m) => m === deployment.missing);
  return missing ? { table: deployment.table, missing } : null;
}

export function withInput(spec: ArchSpec, overrides: InputOverrides, what = spec.name): ArchSpec {
  const changed: ArchSpec = {
    ...spec,
    input: { ...spec.input, resolution: overrides.resolution ?? spec.input.resolution },
    classes: overrides.classes ?? spec.classes,
  };
  return parseArchSpec(changed, what);
}
