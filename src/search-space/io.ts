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
export function withInput(spec: ArchSpec, overrides: InputOverrides, what = spec.name): ArchSpec {
  const changed: ArchSpec = {
    ...spec,
    input: { ...spec.input, resolution: overrides.resolution ?? spec.input.resolution },
    classes: overrides.classes ?? spec.classes,
  };
  return parseArchSpec(changed, what);
}
