/**
 * The zoo trainings a pipeline's report compares with, cached across pipelines: one entry per
 * architecture (spec hash) and training recipe (recipe hash), `<cache>/<spec hash>-<recipe hash>/`,
 * holding the training run (`train/`, an ordinary `nas train` run, continued after an
 * interruption) and, once it finished, `entry.json` (schema version, the recipe, the scores,
 * written atomically). A second pipeline with the same recipe reads the entry and trains nothing.
 * The default cache is `runs/zoo-cache` (under the runs directory of the working directory).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { commandLine } from '../common/command-line.js';
import { jsonHash } from '../common/hash.js';
import { readJsonFile, writeJsonAtomic } from '../common/json-io.js';
import type { Logger } from '../common/log.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { withInput } from '../search-space/io.js';
import { specHash } from '../search-space/spec-hash.js';
import type { BackendName } from '../trainer/backend-names.js';
import { runTrainJob, type TrainJobRequest } from '../trainer/train-job.js';
import { TrainRunDir, type TrainSummary } from '../trainer/train-run.js';

export const DEFAULT_ZOO_CACHE_DIR = path.join('runs', 'zoo-cache');

/** What a zoo model is trained with: the pipeline's standalone-training recipe. */
const ZooRecipeSchema = z.strictObject({
  dataset: z.string(),
  epochs: z.int().positive(),
  trainSamples: z.int().positive().optional(),
  resolution: z.int().positive(),
  seed: z.int().min(0),
});
export type ZooRecipe = z.infer<typeof ZooRecipeSchema>;

const ZooEntrySchema = z.strictObject({
  schemaVersion: z.literal(1),
  kind: z.literal('zoo-training'),
  tool: z.string(),
  spec: z.string(),
  specHash: z.string(),
  recipe: ZooRecipeSchema,
  recipeHash: z.string(),
  valTop1: z.number().nullable(),
  testTop1: z.number().nullable(),
  wallSeconds: z.number().min(0),
  createdAt: z.string(),
});
export type ZooEntry = z.infer<typeof ZooEntrySchema>;

/** A recipe's identity (its fields in a fixed order). */
export function recipeHash(recipe: ZooRecipe): string {
  const { dataset, epochs, trainSamples, resolution, seed } = recipe;
  return jsonHash({ dataset, epochs, trainSamples: trainSamples ?? null, resolution, seed });
}

export class ZooCacheDir {
  constructor(readonly dir: string) {}

  /** The entry directory of an architecture trained with a recipe. */
  entryDir(spec: ArchSpec, recipe: ZooRecipe): string {
    return path.join(this.dir, `${specHash(spec).slice(0, 16)}-${recipeHash(recipe)}`);
  }

  /** The finished training of the architecture with the recipe, or null. */
  read(spec: ArchSpec, recipe: ZooRecipe): ZooEntry | null {
    const file = path.join(this.entryDir(spec, recipe), 'entry.json');
    return existsSync(file) ? parseWith(ZooEntrySchema, readJsonFile(file), file) : null;
  }

  write(entry: ZooEntry, spec: ArchSpec): Promise<void> {
    return writeJsonAtomic(path.join(this.entryDir(spec, entry.recipe), 'entry.json'), entry);
  }
}

export interface ZooTrainingRequest {
  cache: ZooCacheDir;
  /** A zoo model (any input size: the recipe's resolution and the dataset's classes apply). */
  spec: ArchSpec;
  recipe: ZooRecipe;
  backend: BackendName | 'auto';
  signal?: AbortSignal | undefined;
  log: Logger;
}

/** A zoo model's scores with the recipe: the cached entry, or a training (continued if interrupted) that writes it. */
export async function trainedZooModel(request: ZooTrainingRequest): Promise<{ entry: ZooEntry; cached: boolean }> {
  const { cache, spec, recipe } = request;
  const cached = cache.read(spec, recipe);
  if (cached) return { entry: cached, cached: true };
  const outDir = path.join(cache.entryDir(spec, recipe), 'train');
  const { seed } = recipe;
  const resume = new TrainRunDir(outDir).holdsRun();
  request.log.info(
    { model: spec.name, seed, outDir },
    `${resume ? 'continuing the training' : 'training'} of zoo model ${spec.name} for the comparison`,
  );
  const started = Date.now();
  const summary = await trainWithRecipe(spec, spec.name, recipe, outDir, {
    command: recipeTrainCommand(spec.name, recipe, outDir),
    resume,
    backend: request.backend,
    signal: request.signal,
    log: request.log,
  });
  const entry: ZooEntry = {
    schemaVersion: 1,
    kind: 'zoo-training',
    tool: TOOL_NAME,
    spec: spec.name,
    specHash: specHash(spec),
    recipe,
    recipeHash: recipeHash(recipe),
    valTop1: summary.valTop1,
    testTop1: summary.top1,
    wallSeconds: (Date.now() - started) / 1000,
    createdAt: new Date().toISOString(),
  };
  await cache.write(entry, spec);
  return { entry, cached: false };
}

/** `nas train` of `arch` (a zoo name or a spec file) with the recipe into `outDir`: the command a pipeline records for it. */
export function recipeTrainCommand(arch: string, recipe: ZooRecipe, outDir: string): string {
  const { dataset, resolution, epochs, trainSamples, seed } = recipe;
  return commandLine([
    ...['nas', 'train', '--arch', arch, '--dataset', dataset, '--resolution', resolution, '--epochs', epochs],
    ...(trainSamples === undefined ? [] : ['--train-samples', trainSamples]),
    ...['--seed', seed, '--out', outDir],
  ]);
}

/**
 * Trains `spec` (given as `arch`) with the recipe into `outDir`, as `command` does: the pipeline's
 * standalone training and the zoo models' for its report. `resume` continues the run there.
 */
export function trainWithRecipe(
  spec: ArchSpec,
  arch: string,
  recipe: ZooRecipe,
  outDir: string,
  options: Pick<TrainJobRequest, 'command' | 'resume' | 'backend' | 'signal' | 'log' | 'onProgress'>,
): Promise<TrainSummary> {
  const { dataset, resolution, epochs, trainSamples, seed } = recipe;
  return runTrainJob({
    ...options,
    spec: withInput(spec, { resolution }, arch),
    source: arch,
    dataset,
    resolution,
    config: { epochs, seed, ...(trainSamples === undefined ? {} : { trainSamples }) },
    outDir,
  });
}
