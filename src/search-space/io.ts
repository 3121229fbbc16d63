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

export function withInput(spec: ArchSpec, overrides: InputOverrides, what = spec.name): ArchSpec {
  const changed: ArchSpec = {
    ...spec,
    input: { ...spec.input, resolution: overrides.resolution ?? spec.input.resolution },
    classes: overrides.classes ?? spec.classes,
  };
  return parseArchSpec(changed, what);
}
