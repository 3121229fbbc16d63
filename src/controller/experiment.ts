/**
 * Experiment files: what a search run does (space, algorithm, budget, reward, latency table, proxy
 * training, controller), validated at the boundary. experiments/default.json is the embedded
 * default of `nas search`.
 */
import path from 'node:path';
import { z } from 'zod';
import { checkingField } from '../common/errors.js';
import { otherKindError } from '../common/file-kinds.js';
import { jsonHash } from '../common/hash.js';
import { type JsonDifference, jsonDifferences } from '../common/json-diff.js';
import { readJsonFile } from '../common/json-io.js';
import { parseWith } from '../common/validate.js';
import { PROJECT_ROOT } from '../common/version.js';
import { isTableFile } from '../latency-model/predict/load-table.js';
import { zooOrFileSpec } from '../search-space/io.js';
import { experimentChoiceSpace, isSpaceFile } from '../search-space/spaces.js';
import { SupernetSettingsSchema, supernetSettings } from '../supernet/settings.js';
import { TrainConfigSchema } from '../trainer/config.js';
import { canonicalDatasetSource, checkSearchDataset } from '../trainer/data/source.js';
import { ControllerSettingsSchema } from './controller-settings.js';

export const DEFAULT_EXPERIMENT_FILE = path.join(PROJECT_ROOT, 'experiments', 'default.json');

const TargetSchema = z.union([
  z.number().positive(),
  /** The table's latency of a zoo model (or spec file) times a scale, e.g. MnasNet-A1 x 1.13. */
  z.strictObject({ spec: z.string().min(1), scale: z.number().positive() }),
]);

/**
 * What `nas pipeline` does after the search: the standalone training of the search's best
 * architecture, NetAdapt toward the pipeline's target (the reward's unless netadapt.targetMs) on
 * the same table (its proposals fine-tuned on the proxy dataset), and the final training of
 * NetAdapt's result. Every field is required:
 * a pipeline's recipe is written down, not implied (`nas pipeline` prints a section to start from).
 */
export const PipelineSettingsSchema = z.strictObject({
  train: z.strictObject({
    epochs: z.int().positive(),
    /** The first N training images (absent: all). */
    trainSamples: z.int().positive().optional(),
    /** Input resolution of the standalone, NetAdapt and final trainings. */
    resolution: z.int().positive(),
    seed: z.int().min(0),
  }),
  netadapt: z.strictObject({
    /** Training steps (batches of 32) of each proposal's fine-tune. */
    finetuneSteps: z.int().positive(),
    /** Minimum latency cut per step, as a fraction of the seed's latency. */
    deltaRatio: z.number().positive().lt(1),
    /** A trained model within this fraction above the target counts as meeting it (NetAdapt is skipped). */
    tolerance: z.number().min(0).lt(1),
    /** Validation images scoring each proposal. */
    validationSamples: z.int().positive(),
    /**
     * NetAdapt's target, and so the pipeline's, when it is not the search's (absent: the reward's):
     * e.g. search at a looser target, then let NetAdapt shrink the find to the one deployed.
     */
    targetMs: TargetSchema.optional(),
  }),
  /** Epochs of NetAdapt's result, fine-tuned from its weights (also scored on the test split). */
  finalEpochs: z.int().positive(),
  /**
   * Timing the final model on this machine in the evaluation (only when the table was profiled
   * here): passes over the models as validation times them, and the longest wait for full speed
   * per timing. Absent: 2 passes, 60 s.
   */
  measure: z.strictObject({ passes: z.int().positive(), maxWaitSeconds: z.number().min(0) }).optional(),
  /**
   * The closing report's comparison: the zoo models within `window` (a fraction) of the final
   * model's predicted latency, trained with the standalone training's recipe (cached by spec and
   * recipe); `train: false` lists them untrained. Absent: trained, window 0.1.
   */
  zoo: z.strictObject({ train: z.boolean(), window: z.number().gt(0).lt(1) }).optional(),
  /**
   * The hand-written model the closing report puts the final model beside, stage by stage (op,
   * kernel, expansion, SE, activation, layers, width): a zoo model name or a spec file; null: no
   * such comparison. Absent: the spec of the reward's target when the target names one
   * (`targetMs: {"spec": ...}`), else none.
   */
  reference: z.string().min(1).nullable().optional(),
});
export type PipelineSettings = z.infer<typeof PipelineSettingsSchema>;

export const ExperimentSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    kind: z.literal('experiment'),
    name: z.string().min(1),
    description: z.string().optional(),
    /** A space name (experiments/spaces/NAME.json) or a search-space file. */
    space: z.string().min(1),
    algorithm: z.enum(['ppo', 'reinforce', 'random']),
    /**
     * How a sampled architecture gets its accuracy: `proxy` (the default) trains each child on the
     * proxy task; `supernet` trains one weight-sharing supernet jointly with the controller.
     */
    evaluator: z.enum(['proxy', 'supernet']).optional(),
    /**
     * Number of trials (sampled, rewarded architectures) in the run. With the supernet evaluator one
     * trial per training step after the warm-up, so the run trains budget / (1 - warmup) steps.
     */
    budget: z.int().positive(),
    /** Architectures per controller update. */
    batchSize: z.int().positive(),
    seed: z.int().min(0),
    reward: z
      .strictObject({
        targetMs: TargetSchema,
        /** soft / hard: MnasNet's ACC * (LAT/TAR)^w; absolute: TuNAS's ACC + beta * |LAT/TAR - 1|. */
        constraint: z.enum(['soft', 'hard', 'absolute']),
        /** Soft-constraint exponent: -0.07 (large models) or -0.15 (small). */
        w: z.number().max(0),
        /** Absolute reward: the (negative) weight of the relative distance to the target. */
        beta: z.number().lt(0).optional(),
      })
      .refine((r) => r.constraint !== 'absolute' || r.beta !== undefined, {
        message: 'the absolute reward needs beta (e.g. -0.5)',
        path: ['beta'],
      }),
    latency: z.strictObject({
      /** Table file or name in tables/ (`default`: the embedded table). */
      table: z.string().min(1),
      /**
       * How to get the table when it is not there (e.g. the `nas table import` of a published phone
       * table, which the project does not ship), shown in the error.
       */
      obtain: z.string().min(1).optional(),
      /** Resolution and classifier width of the deployed model whose latency counts. */
      resolution: z.int().positive(),
      classes: z.int().positive(),
      /**
       * Ops of the space the table lacks: `error` (the default: profile them first) or `estimate`
       * (priced once, at the start, by the table's latency estimator; the run says how many).
       * Absent means `error` (and keeps the experiment's hash).
       */
      missing: z.enum(['error', 'estimate']).optional(),
    }),
    proxy: z.strictObject({
      dataset: z.string().min(1),
      resolution: z.int().positive(),
      /** Training settings of each child (epochs, samples, optimizer...); defaults fill the rest. */
      train: TrainConfigSchema.partial(),
    }),
    controller: ControllerSettingsSchema.partial(),
    /** Settings of the supernet evaluator (defaults fill the rest). */
    supernet: SupernetSettingsSchema.partial().optional(),
    /** Children trained at once, each in its own process (also NetAdapt's proposals in a pipeline). */
    parallel: z.int().min(1).max(64),
    /** The steps of `nas pipeline` after the search (absent: the experiment is a search only). */
    pipeline: PipelineSettingsSchema.optional(),
  })
  .superRefine((experiment, ctx) => {
    const { warmup, largestFirst } = supernetSettings(experiment.supernet);
    if (largestFirst > 0 && largestFirst >= warmup)
      ctx.addIssue({
        code: 'custom',
        path: ['supernet', 'largestFirst'],
        message: `${largestFirst} is not below supernet.warmup (${warmup}): the largest member's steps are part of the warm-up; raise warmup or lower largestFirst`,
      });
  });
export type Experiment = z.infer<typeof ExperimentSchema>;

export function parseExperiment(data: unknown, source: string): Experiment {
  const other = otherKindError(data, source, ['experiment'], 'an experiment');
  if (other) throw other;
  return parseWith(ExperimentSchema, data, source);
}

/**
 * `experiment` priced on `table` (--table) instead of its own: a file, recorded absolute (a resume
 * may start elsewhere), or a name in tables/ as given. Its `latency.obtain` no longer applies.
 * Without a table, the experiment as it is.
 */
export function withTable(experiment: Experiment, table: string | undefined): Experiment {
  if (!table) return experiment;
  const given = isTableFile(table) ? path.resolve(table) : table;
  return { ...experiment, latency: { ...experiment.latency, table: given, obtain: undefined } };
}

/** The file a setup failure is said to be in: none once --table replaced the file's table (a table's failure is then not the file's). */
export function failureSource(file: string, table: string | undefined): string | undefined {
  return table ? undefined : file;
}

/**
 * An experiment file, the files it names taken from its directory (withAbsolutePaths), and what it
 * names checked (checkNamedInputs): a failure is said to be the file's field, `FILE: $.path: ...`.
 */
export function readExperiment(file = DEFAULT_EXPERIMENT_FILE): Experiment {
  const experiment = withAbsolutePaths(parseExperiment(readJsonFile(file), file), path.dirname(file));
  checkNamedInputs(experiment, file);
  return experiment;
}

/**
 * What an experiment file names outside itself, checked before a run starts: its space, the input
 * sizes members of it are built at, its dataset and its specs. Not its table, which `nas search
 * --table` may replace: setupSearch checks that.
 */
function checkNamedInputs(experiment: Experiment, file: string): void {
  const space = experimentChoiceSpace(experiment.space, file);
  const inField = (field: string, check: () => unknown) => checkingField(file, field, check);
  inField('$.proxy.resolution', () => space.checkResolution(experiment.proxy.resolution));
  inField('$.latency.resolution', () => space.checkResolution(experiment.latency.resolution));
  const { pipeline } = experiment;
  if (pipeline) inField('$.pipeline.train.resolution', () => space.checkResolution(pipeline.train.resolution));
  inField('$.proxy.dataset', () => checkSearchDataset(experiment.proxy.dataset));
  for (const [field, spec] of namedSpecs(experiment)) inField(field, () => zooOrFileSpec(spec));
}

/** The specs an experiment names (the reward's and NetAdapt's targets, the pipeline's reference) by JSON path. */
function namedSpecs({ reward, pipeline }: Experiment): [string, string][] {
  const specs: [string, string][] = [];
  if (typeof reward.targetMs !== 'number') specs.push(['$.reward.targetMs.spec', reward.targetMs.spec]);
  const netadaptTarget = pipeline?.netadapt.targetMs;
  if (netadaptTarget !== undefined && typeof netadaptTarget !== 'number')
    specs.push(['$.pipeline.netadapt.targetMs.spec', netadaptTarget.spec]);
  if (typeof pipeline?.reference === 'string') specs.push(['$.pipeline.reference', pipeline.reference]);
  return specs;
}

/**
 * The experiment with every file it names (space, table, dataset folder, target and reference
 * specs) as an absolute path, a relative one taken from `dir`, so a run records where they are
 * wherever it is resumed from. Names (built-in spaces, tables in tables/, zoo models) stay names.
 */
export function withAbsolutePaths(experiment: Experiment, dir: string): Experiment {
  const fileFrom = (value: string, isFile: (value: string) => boolean) => (isFile(value) ? path.resolve(dir, value) : value);
  const target = (t: z.infer<typeof TargetSchema>) => (typeof t === 'number' ? t : { ...t, spec: fileFrom(t.spec, isSpaceFile) });
  const { reward, latency, proxy, pipeline } = experiment;
  return {
    ...experiment,
    space: fileFrom(experiment.space, isSpaceFile),
    reward: { ...reward, targetMs: target(reward.targetMs) },
    latency: { ...latency, table: fileFrom(latency.table, isTableFile) },
    proxy: { ...proxy, dataset: canonicalDatasetSource(proxy.dataset, dir) },
    ...(pipeline && {
      pipeline: {
        ...pipeline,
        netadapt: pipeline.netadapt.targetMs ? { ...pipeline.netadapt, targetMs: target(pipeline.netadapt.targetMs) } : pipeline.netadapt,
        ...(typeof pipeline.reference === 'string' && { reference: fileFrom(pipeline.reference, isSpaceFile) }),
      },
    }),
  };
}

/** What the supernet evaluator does instead of each proxy.train setting it ignores. */
const SUPERNET_INSTEAD: Partial<Record<keyof Experiment['proxy']['train'], string>> = {
  epochs: 'the supernet trains budget / (1 - supernet.warmup) steps',
  checkpointMinutes: 'supernet.checkpointMinutes sets how often it checkpoints',
  seed: "the experiment's seed seeds it",
  bnMomentum: 'batch norm is recalibrated before ranking instead (supernet.recalibrationBatches)',
  ema: 'the supernet keeps no moving average of its weights',
};

/** The settings an experiment gives that its evaluator does not use, each with why: one line each, to warn of. */
export function ignoredSettings(experiment: Experiment): string[] {
  if (experiment.evaluator !== 'supernet')
    return experiment.supernet
      ? ['the supernet section is ignored: it sets the weight-sharing evaluator, and this experiment\'s is "proxy"']
      : [];
  return Object.entries(SUPERNET_INSTEAD)
    .filter(([field]) => field in experiment.proxy.train)
    .map(([field, instead]) => `proxy.train.${field} is ignored by the supernet evaluator: ${instead}`);
}

/** What a search's command line may set over its experiment (nas search's flags). */
export interface ExperimentOverrides {
  algorithm?: Experiment['algorithm'] | undefined;
  budget?: number | undefined;
  seed?: number | undefined;
  parallel?: number | undefined;
  /** A table file or a name in tables/ (withTable). */
  table?: string | undefined;
}

/**
 * The experiment with the command line's settings over its own, checked. An override the
 * evaluator ignores is not applied (so the run records what it ran with) but named in `ignored`:
 * --parallel of a supernet search, which trains one network in its own process.
 */
export function withOverrides(experiment: Experiment, overrides: ExperimentOverrides): { experiment: Experiment; ignored: string[] } {
  const ignored: string[] = [];
  let { parallel } = experiment;
  if (overrides.parallel !== undefined && experiment.evaluator === 'supernet')
    ignored.push(
      `--parallel ${overrides.parallel} is ignored: a supernet search trains one network, in this process (it sets how many children the proxy evaluator trains at once)`,
    );
  else parallel = overrides.parallel ?? parallel;
  const changed = {
    ...withTable(experiment, overrides.table),
    algorithm: overrides.algorithm ?? experiment.algorithm,
    budget: overrides.budget ?? experiment.budget,
    seed: overrides.seed ?? experiment.seed,
    parallel,
  };
  return { experiment: parseExperiment(changed, 'experiment with command-line overrides'), ignored };
}

/**
 * What a resumed run may change without becoming another experiment: the budget (a run may be
 * extended) and `parallel` (how many children train at once: each child's training is seeded by
 * its spec and settings alone, so its accuracy does not depend on it).
 */
function identity(e: Experiment): Omit<Experiment, 'budget' | 'parallel'> {
  const { budget: _b, parallel: _p, ...rest } = e;
  return rest;
}

/** Identity of an experiment for --resume: everything but the budget and `parallel`. */
export function experimentHash(e: Experiment): string {
  return jsonHash(identity(e));
}

/** What names an experiment rather than sets it: named as a difference only when nothing else differs. */
const LABELS = new Set(['$.name', '$.description']);

/**
 * Where the experiment a run recorded and one given to resume it differ, the budget and `parallel`
 * aside (as in experimentHash): the settings, or the name and description when they are all that
 * differ. None: the given experiment resumes the run. Files are compared by absolute path: runs
 * recorded before experiments' paths were made absolute hold them as written, relative to the
 * directory the run was started in, assumed to be this one (as resuming them assumes).
 */
export function experimentDifferences(recorded: Experiment, given: Experiment): JsonDifference[] {
  const all = jsonDifferences(identity(withAbsolutePaths(recorded, '.')), identity(withAbsolutePaths(given, '.')));
  const settings = all.filter((d) => !LABELS.has(d.path));
  return settings.length ? settings : all;
}
