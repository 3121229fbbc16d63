/**
 * What a `nas netadapt` job runs with (NetAdaptStart, recorded in history.json): for a new run, the
 * request's settings over the defaults, the seed from its checkpoint (seed.ts), the table and the
 * deployed input the seed's provenance names; for a resumed run, the run's own, whatever the
 * request says (settings given again that differ are named as ignored; only the parallelism and the
 * backend change a run).
 */
import path from 'node:path';
import { InputError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { recordedTableFile } from '../controller/search-run.js';
import { DEFAULT_TABLE, tablePath } from '../latency-model/predict/load-table.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { deploymentInput } from '../search-space/io.js';
import { readCheckpointDataset, readCheckpointSpec, resolveCheckpointDir } from '../trainer/checkpoint.js';
import { canonicalDatasetSource } from '../trainer/data/index.js';
import { NETADAPT_DEFAULTS as D } from './defaults.js';
import type { NetAdaptSettings } from './netadapt.js';
import { type History, type NetAdaptRunDir, type NetAdaptStart, olderHistorySettings } from './netadapt-run.js';
import { isTheSeed, seedSpec } from './seed.js';

/** The settings a NetAdapt job is asked for: every one optional but the target (and the seed checkpoint unless `resume`). */
export interface NetAdaptStartRequest {
  /**
   * The seed's trained run or checkpoint directory, and the seed spec (absent: the one the
   * checkpoint holds; see seed.ts). The checkpoint is needed unless `resume`, which takes both
   * from the run, as every setting below.
   */
  seedCheckpoint?: string | undefined;
  seed?: ArchSpec | undefined;
  /** A latency table file or name (default: the one the seed's provenance.deployment names, else the embedded one). */
  table?: string | undefined;
  /**
   * Exactly one of targetMs and targetRatio; the rest default to NETADAPT_DEFAULTS. The deployed
   * input whose latency counts defaults to the seed's (provenance.deployment: a search's find at
   * its proxy resolution), else 224 px, 1000 classes.
   */
  settings: Partial<NetAdaptSettings>;
  /** The dataset proposals are fine-tuned and scored on (absent: the one the seed checkpoint trained on). */
  dataset?: string | undefined;
  finetune: {
    /** Training steps (batches of 32) of each proposal's fine-tune. */
    steps?: number | undefined;
    /** Validation images scoring each proposal. */
    validationSamples?: number | undefined;
    /** Default: 0.01 (SGD). */
    learningRate?: number | undefined;
    seed?: number | undefined;
  };
  /** The result's long training: epochs on the full training split (0: none), from scratch or from its weights. */
  final?: {
    epochs?: number | undefined;
    fromScratch?: boolean | undefined;
    /** The first N training images (absent: all). */
    trainSamples?: number | undefined;
  };
  /** Continue the run in the job's directory, with its own settings. */
  resume?: boolean | undefined;
}

/** The settings the job in `run` runs with: a new run's, or on resume the run's own. */
export function jobStart(request: NetAdaptStartRequest, run: NetAdaptRunDir, log: Logger): NetAdaptStart {
  if (!request.resume) return newStart(request, log);
  const history = run.resumable();
  const own = history.start ?? olderRunStart(request, history, run.dir, log);
  warnOfIgnored(request, own, log);
  log.info({ dir: run.dir, table: own.table, dataset: own.dataset }, `continuing the run in ${run.dir} with the settings it started with`);
  return own;
}

function newStart(request: NetAdaptStartRequest, log: Logger): NetAdaptStart {
  const given = request.settings;
  checkTarget(given);
  if (request.seedCheckpoint === undefined)
    throw new InputError('a new NetAdapt run needs --checkpoint (the trained seed); only --resume takes it from the run in --out');
  const seed = seedSpec(request.seed, request.seedCheckpoint, log);
  const settings = {
    ...given,
    deltaRatio: given.deltaRatio ?? D.deltaRatio,
    deltaDecay: given.deltaDecay ?? D.deltaDecay,
    metric: given.metric ?? D.metric,
    latencyMissing: given.latencyMissing ?? D.latencyMissing,
    ...deployedAt(given, seed, log),
  };
  const { finetune, final } = request;
  return {
    seedCheckpoint: path.resolve(resolveCheckpointDir(request.seedCheckpoint)),
    seed,
    table: path.resolve(tablePath(tableFor(request.table, seed, request.seedCheckpoint, log))),
    settings,
    dataset: datasetSource(request.dataset, request.seedCheckpoint, log),
    finetune: {
      steps: finetune.steps ?? D.finetuneSteps,
      validationSamples: finetune.validationSamples ?? D.validationSamples,
      ...(finetune.learningRate === undefined ? {} : { learningRate: finetune.learningRate }),
      seed: finetune.seed ?? D.seed,
    },
    final: {
      epochs: final?.epochs ?? D.finalEpochs,
      ...(final?.fromScratch === undefined ? {} : { fromScratch: final.fromScratch }),
      ...(final?.trainSamples === undefined ? {} : { trainSamples: final.trainSamples }),
    },
  };
}

function checkTarget(settings: NetAdaptStartRequest['settings']): void {
  if ((settings.targetMs === undefined) === (settings.targetRatio === undefined))
    throw new InputError('give exactly one of --target-ms and --target-ratio');
  if (settings.targetRatio !== undefined && !(settings.targetRatio > 0 && settings.targetRatio < 1))
    throw new InputError(`--target-ratio must be between 0 and 1, got ${settings.targetRatio}`);
}

/** The deployed input whose latency counts: as given, else the seed's deployment input, else 224 px and 1000 classes. */
function deployedAt(given: NetAdaptStartRequest['settings'], seed: ArchSpec, log: Logger) {
  const deployment = deploymentInput(seed);
  const latencyResolution = given.latencyResolution ?? deployment?.resolution ?? 224;
  const latencyClasses = given.latencyClasses ?? deployment?.classes ?? 1000;
  if (deployment && (given.latencyResolution === undefined || given.latencyClasses === undefined))
    log.info(
      { resolution: latencyResolution, classes: latencyClasses },
      `latency counts the deployed model at ${latencyResolution}x${latencyResolution}, ${latencyClasses} classes (the seed's provenance.deployment unless --latency-resolution/--latency-classes)`,
    );
  return { latencyResolution, latencyClasses };
}

/** The table to price on: the one given, else the one the seed's search priced it on (recordedTableFile), else the default. */
function tableFor(given: string | undefined, seed: ArchSpec, seedCheckpoint: string, log: Logger): string {
  if (given !== undefined) return given;
  const recorded = recordedTableFile(seed, path.join(resolveCheckpointDir(seedCheckpoint), 'spec.json'));
  if (!recorded) return DEFAULT_TABLE;
  log.info(
    { table: recorded.name, file: recorded.file },
    `latency is priced on table ${recorded.name}, the seed's provenance.deployment.table (unless --table)`,
  );
  return recorded.file;
}

/** The dataset to fine-tune on: the one given, else the one the seed checkpoint trained on (Fashion-MNIST when it does not say). */
function datasetSource(given: string | undefined, seedCheckpoint: string, log: Logger): string {
  if (given) return canonicalDatasetSource(given);
  const trained = readCheckpointDataset(seedCheckpoint);
  const source = trained ? canonicalDatasetSource(trained) : 'fashion-mnist';
  log.info(
    { dataset: source },
    trained
      ? `proposals are fine-tuned on ${source}, the seed checkpoint's dataset`
      : `the seed checkpoint names no dataset: proposals are fine-tuned on ${source} (--dataset to choose)`,
  );
  return source;
}

/**
 * A run started before its settings were recorded: what its history holds, the rest as given. What
 * it lacks and was not given again is refused, naming the options to pass as when it started.
 */
function olderRunStart(request: NetAdaptStartRequest, history: History, dir: string, log: Logger): NetAdaptStart {
  const recorded = olderHistorySettings(history);
  if (!recorded) throw new InputError(`${dir}: its history.json does not record the run's settings: choose a new --out`);
  const { finetuneSamples } = history.settings as { finetuneSamples?: unknown };
  const { finetune, final } = request;
  const table = history.tableRef?.file ?? (request.table === undefined ? undefined : path.resolve(tablePath(request.table)));
  const steps = typeof finetuneSamples === 'number' ? finetuneSamples / 32 : finetune.steps;
  const lacking = Object.entries({
    '--table': table,
    '--finetune-steps': steps,
    '--validation-samples': finetune.validationSamples,
    '--seed': finetune.seed,
    '--final-epochs': final?.epochs,
  }).filter(([, value]) => value === undefined);
  if (lacking.length)
    throw new InputError(
      `${dir} was started by an older nas that did not record its ${lacking.map(([flag]) => flag).join(', ')}: resume with them (and --lr, --final-samples, --from-scratch if it had them) given as when it started`,
    );
  const seed = request.seed ? seedSpec(request.seed, history.seedCheckpoint, log) : readCheckpointSpec(history.seedCheckpoint).spec;
  return {
    seedCheckpoint: path.resolve(history.seedCheckpoint),
    seed,
    table: table!,
    settings: { ...recorded, latencyMissing: recorded.latencyMissing ?? D.latencyMissing },
    dataset: history.dataset ?? datasetSource(request.dataset, history.seedCheckpoint, log),
    finetune: {
      steps: steps!,
      validationSamples: finetune.validationSamples!,
      ...(finetune.learningRate === undefined ? {} : { learningRate: finetune.learningRate }),
      seed: finetune.seed!,
    },
    final: { epochs: final!.epochs!, fromScratch: final?.fromScratch, trainSamples: final?.trainSamples },
  };
}

/** One warning naming the settings given again with another value than the run's own (which it keeps). */
function warnOfIgnored(request: NetAdaptStartRequest, own: NetAdaptStart, log: Logger): void {
  const s = request.settings;
  const { finetune, final } = request;
  const given: [string, unknown, unknown][] = [
    ['--checkpoint', request.seedCheckpoint && checkpointDir(request.seedCheckpoint), own.seedCheckpoint],
    ['--arch', request.seed && !isTheSeed(request.seed, own.seed) ? request.seed.name : undefined, own.seed.name],
    ['--table', request.table && path.resolve(tablePath(request.table)), own.table],
    ['--target-ms', s.targetMs, own.settings.targetMs],
    ['--target-ratio', s.targetRatio, own.settings.targetRatio],
    ['--delta-ratio', s.deltaRatio, own.settings.deltaRatio],
    ['--delta-decay', s.deltaDecay, own.settings.deltaDecay],
    ['--metric', s.metric, own.settings.metric],
    ['--latency-resolution', s.latencyResolution, own.settings.latencyResolution],
    ['--latency-classes', s.latencyClasses, own.settings.latencyClasses],
    ['--latency-missing', s.latencyMissing, own.settings.latencyMissing],
    ['--dataset', request.dataset && canonicalDatasetSource(request.dataset), canonicalDatasetSource(own.dataset)],
    ['--finetune-steps', finetune.steps, own.finetune.steps],
    ['--validation-samples', finetune.validationSamples, own.finetune.validationSamples],
    ['--lr', finetune.learningRate, own.finetune.learningRate],
    ['--seed', finetune.seed, own.finetune.seed],
    ['--final-epochs', final?.epochs, own.final.epochs],
    ['--final-samples', final?.trainSamples, own.final.trainSamples],
    ['--from-scratch', final?.fromScratch, own.final.fromScratch],
  ];
  const ignored = given.filter(([, value, ownValue]) => value !== undefined && value !== ownValue);
  if (ignored.length)
    log.warn(
      { ignored: Object.fromEntries(ignored.map(([flag, value]) => [flag, value])) },
      `a resumed run keeps its own settings: ${ignored.map(([flag, value, ownValue]) => `${flag} ${value} (the run's: ${ownValue ?? 'none'})`).join(', ')} given again and ignored (only --parallel changes a run)`,
    );
}

/** A checkpoint directory as a run records it (absolute), or the path as given when it holds none. */
function checkpointDir(dir: string): string {
  try {
    return path.resolve(resolveCheckpointDir(dir));
  } catch {
    return path.resolve(dir);
  }
}
