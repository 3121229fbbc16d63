/** Reading specs from disk and adapting them to another input size or class count. */
import { existsSync } from 'node:fs';
import { InputError } from '../common/errors.js';
import { readJsonFile } from '../common/json-io.js';
import { type ArchSpec, parseArchSpec } from './archspec.js';
import { isZooName, zooSpec } from './zoo/index.js';

export function readArchSpec(file: string): ArchSpec {
  return parseArchSpec(readJsonFile(file), file);
}

/** A spec by zoo model name or by spec file (a file named like a zoo model wins). */
export function zooOrFileSpec(nameOrFile: string): ArchSpec {
  if (isZooName(nameOrFile) && !existsSync(nameOrFile)) return zooSpec(nameOrFile);
  if (!existsSync(nameOrFile))
    throw new InputError(`${JSON.stringify(nameOrFile)} is neither a zoo model name (see nas specs --list) nor a spec file`);
  return readArchSpec(nameOrFile);
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

/** The name of the table a spec's deployed latency was priced on, as its provenance records it (`provenance.deployment.table`). */
export function deploymentTable(spec: ArchSpec): string | null {
  const table = (spec.provenance as { deployment?: { table?: unknown } } | undefined)?.deployment?.table;
  return typeof table === 'string' && table ? table : null;
}

/** The file of that table, when the provenance records it (`provenance.deployment.tableFile`: specs written since 2026-12-07). */
export function deploymentTableFile(spec: ArchSpec): string | null {
  const file = (spec.provenance as { deployment?: { tableFile?: unknown } } | undefined)?.deployment?.tableFile;
  return typeof file === 'string' && file ? file : null;
}

/** How ops a table lacks were filled in when a spec was priced: the table's estimator, or interpolation between measured widths. */
export type LackingOpsPricing = 'estimate' | 'interpolate';

/**
 * How the ops `table` lacks were filled in when the spec's deployed latency was priced on it, as its
 * provenance records (`provenance.deployment.table`, `.missing`: a search with `latency.missing:
 * "estimate"` prices them with the table's estimator, and so must everything that prices the spec
 * again to get the same number); null when they were refused or measured, the spec was priced on
 * another table, or nothing is recorded.
 */
export function lackingOpsPricing(spec: ArchSpec, table: string): LackingOpsPricing | null {
  const deployment = (spec.provenance as { deployment?: { table?: unknown; missing?: unknown } } | undefined)?.deployment;
  if (deployment?.table !== table) return null;
  return deployment.missing === 'estimate' || deployment.missing === 'interpolate' ? deployment.missing : null;
}

export function withInput(spec: ArchSpec, overrides: InputOverrides, what = spec.name): ArchSpec {
  const changed: ArchSpec = {
    ...spec,
    input: { ...spec.input, resolution: overrides.resolution ?? spec.input.resolution },
    classes: overrides.classes ?? spec.classes,
  };
  return parseArchSpec(changed, what);
}
