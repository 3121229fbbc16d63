/**
 * NetAdapt's seed: the spec its checkpoint was trained from. A spec given with the checkpoint is
 * checked against it; one that differs only in input resolution and class count (a zoo spec at
 * 224 px and 1000 classes, trained at 32 px on 10) is taken at the checkpoint's values.
 */
import { InputError } from '../common/errors.js';
import { formatDifferences } from '../common/json-diff.js';
import type { Logger } from '../common/log.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { withInput } from '../search-space/io.js';
import { type SpecDifference, specDifferences } from '../search-space/spec-diff.js';
import { readCheckpointSpec } from '../trainer/checkpoint.js';

/** What training sets for the data it is given, rather than for the network. */
const INPUT_PATHS = new Set(['input.resolution', 'classes']);

/** The seed spec of a NetAdapt run from its checkpoint (a run or checkpoint directory) and the spec given with it, if any. */
export function seedSpec(given: ArchSpec | undefined, checkpoint: string, log: Logger): ArchSpec {
  const { dir, spec: trained } = readCheckpointSpec(checkpoint);
  if (!given) {
    log.info({ seed: trained.name, checkpoint: dir }, `the seed is the spec its checkpoint was trained from, ${trained.name}`);
    return trained;
  }
  const differences = specDifferences(given, trained);
  if (differences.length === 0) return given;
  if (!differences.every((d) => INPUT_PATHS.has(d.path))) throw seedMismatch(given, dir, differences);
  log.info(
    { seed: given.name, checkpoint: dir },
    `--arch ${given.name} differs from the checkpoint's spec only in ${formatDifferences(differences)}: adapted to the checkpoint's (the latency still counts the deployed model's --latency-resolution and --latency-classes)`,
  );
  return withInput(given, { resolution: trained.input.resolution, classes: trained.classes });
}

/** Whether `given` is the seed spec `seed`, or one differing from it only in input resolution and class count. */
export function isTheSeed(given: ArchSpec, seed: ArchSpec): boolean {
  return specDifferences(given, seed).every((d) => INPUT_PATHS.has(d.path));
}

/** The error for a seed spec its checkpoint was not trained from, naming the differing fields. */
export function seedMismatch(seed: ArchSpec, checkpointDir: string, differences: readonly SpecDifference[]): InputError {
  return new InputError(
    `${checkpointDir}: the checkpoint was not trained from --arch ${seed.name}: ${formatDifferences(differences)} (the spec's value, then the checkpoint's); drop --arch to take the checkpoint's own spec, or pass the checkpoint trained from this one`,
  );
}
