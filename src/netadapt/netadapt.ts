/**
 * NetAdapt (Yang et al.) as MobileNetV3 used it: from a trained seed, each step proposes every
 * simplification that cuts the predicted latency by at least delta, gives each proposal the
 * previous step's weights (inherited by layer ids), fine-tunes it briefly, evaluates it on the
 * validation split and keeps the one that maximises dAcc / |dLatency| (or, as the original
 * NetAdapt, the most accurate one), until the latency target is met.
 *
 * The output directory (netadapt-run.ts) is the durable state: history.json lists every finished
 * step (all proposals with latency and accuracy, the chosen one) and is rewritten atomically after
 * each; each proposal trains into its own directory and is reused when present. A killed run
 * resumes at the first unfinished step, and inside it trains only the proposals without a result.
 */
import path from 'node:path';
import { untilAborted } from '../common/abort.js';
import { resumeCommand } from '../common/command-line.js';
import { InputError, InterruptedError, NasError } from '../common/errors.js';
import { type Logger, silentLogger } from '../common/log.js';
import { scatterPlot } from '../common/svg.js';
import { TOOL_NAME } from '../common/version.js';
import { RunWallTime } from '../common/wall-time.js';
import { LatencyOracle } from '../latency-model/predict/oracle.js';
import type { OracleMissing } from '../latency-model/predict/oracle-missing.js';
import { MissingKeysError, predictLatency } from '../latency-model/predict/predict.js';
import { tableRef } from '../latency-model/predict/table-ref.js';
import { completedByProfiling, type LatencyTable } from '../latency-model/predict/table-schema.js';
import { type ArchSpec, type Block, parseArchSpec } from '../search-space/archspec.js';
import { type LackingOpsPricing, lackingOpsPricing } from '../search-space/io.js';
import { specDifferences } from '../search-space/spec-diff.js';
import { specHash } from '../search-space/spec-hash.js';
import { buildModel } from '../trainer/build-model.js';
import { assignWeights, CHECKPOINT_DIR, loadCheckpoint, resolveCheckpointDir } from '../trainer/checkpoint.js';
import type { TrainConfig } from '../trainer/config.js';
import type { TrainingData } from '../trainer/data/index.js';
import { batcherFor, evaluate } from '../trainer/train.js';
import type { Evaluator } from '../trainer/training-pool.js';
import {
  type History,
  NETADAPT_HISTORY_VERSION,
  NetAdaptRunDir,
  type NetAdaptSettings,
  type NetAdaptStart,
  type ProposalRecord,
} from './netadapt-run.js';
import { generateProposals, type Proposal, type ProposalKind } from './proposals.js';
import { seedMismatch } from './seed.js';

export type SelectionMetric = NetAdaptSettings['metric'];

/** The adaptation's settings, the history and its records are the run directory's (netadapt-run.ts). */
export type { History, NetAdaptSettings, ProposalRecord, StepRecord } from './netadapt-run.js';

export interface NetAdaptProgress {
  step: number;
  latencyMs: number;
  targetMs: number;
  accuracy: number;
  proposalsDone: number;
  proposals: number;
}

export interface NetAdaptRequest {
  seed: ArchSpec;
  seedCheckpoint: string;
  table: LatencyTable;
  /** The table's file, recorded with its hash and labels in the history (null: given in memory). */
  tableFile?: string | null;
  settings: NetAdaptSettings;
  dataset: TrainingData;
  /** Fine-tuning of each proposal (a step budget is epochs 1 with trainSamples = steps x batch). */
  finetune: TrainConfig;
  evaluator: Evaluator;
  outDir: string;
  resume?: boolean;
  /** What the job started the run with, recorded in the history for a resume to take (an older run's is recorded on its resume). */
  start?: NetAdaptStart | undefined;
  onProgress?: (p: NetAdaptProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

export interface NetAdaptResult {
  history: History;
  final: ArchSpec;
  finalCheckpoint: string;
  finalLatencyMs: number;
  finalAccuracy: number;
}

/** Validation top-1 of a checkpoint (the seed's accuracy, measured as proposals are). */
export function validationAccuracy(spec: ArchSpec, checkpoint: string, dataset: TrainingData, config: TrainConfig): number {
  const ckpt = loadCheckpoint(checkpoint, (d) => d);
  const model = buildModel(spec);
  try {
    assignWeights(model, ckpt.weights, ckpt.dir);
    return evaluate(model, batcherFor(spec, dataset, 'validation', { augment: false, limit: config.validationSamples ?? undefined }));
  } finally {
    model.dispose();
  }
}

/** The smallest network the proposals could ever reach: removable layers gone, every width 8. */
export function smallestReachable(spec: ArchSpec): ArchSpec {
  let current = spec;
  for (;;) {
    let channels = current.stem.out;
    const removable = current.blocks.findIndex((b) => {
      const ok = b.stride === 1 && b.out === channels;
      channels = b.out;
      return ok;
    });
    if (removable < 0) break;
    current = { ...current, blocks: current.blocks.filter((_, i) => i !== removable) };
  }
  const stem = { ...current.stem, out: 8 };
  const blocks = current.blocks.map((b) => {
    const narrowed = { ...b, out: 8, se: b.se && { ...b.se, squeeze: Math.min(b.se.squeeze, 8) } };
    return (b.type === 'bneck' ? { ...narrowed, exp: 8 } : narrowed) as Block;
  });
  return parseArchSpec({ ...current, stem, blocks }, 'smallest reachable network');
}

/**
 * Adapts the seed step by step until its predicted latency meets the target; returns the result's
 * spec (also in final.json), its checkpoint, latency and validation accuracy, and the history.
 */
export async function runNetAdapt(request: NetAdaptRequest): Promise<NetAdaptResult> {
  const adaptation = await Adaptation.start(request);
  try {
    while (adaptation.current.latencyMs > adaptation.targetMs) await adaptation.step();
    return await adaptation.finish();
  } catch (err) {
    // The finished steps are saved already; this keeps the time the stopped one took in the record.
    await adaptation.saveHistory().catch(() => undefined);
    throw err;
  }
}

/** Where the adaptation stands: the last chosen network (the seed before the first step). */
interface Current {
  spec: ArchSpec;
  checkpoint: string;
  latencyMs: number;
  accuracy: number;
}

/** The seed's checkpoint, checked to be the seed spec's. */
function loadSeedCheckpoint(request: NetAdaptRequest) {
  const { seed } = request;
  const seedCkpt = loadCheckpoint(request.seedCheckpoint, (d) => d);
  const differences = specDifferences(seed, seedCkpt.spec);
  if (differences.length > 0) throw seedMismatch(seed, seedCkpt.dir, differences);
  return seedCkpt;
}

/**
 * With `--latency-missing auto`, the policy the seed's own latency was priced with on this table
 * (provenance.deployment: a search with `latency.missing: "estimate"` priced its find with the
 * table's estimator), so that NetAdapt starts from the number the search gave it; null otherwise.
 */
function seedPricing(seed: ArchSpec, table: string, missing: OracleMissing | undefined): LackingOpsPricing | null {
  return (missing ?? 'auto') === 'auto' ? lackingOpsPricing(seed, table) : null;
}

/** The seed's predicted latency and the target, checked to be below it and reachable. */
function latencyTarget(
  request: NetAdaptRequest,
  oracle: LatencyOracle,
  seedMissing: LackingOpsPricing | null,
): { seedLatencyMs: number; targetMs: number } {
  const { seed, settings, table } = request;
  let seedLatencyMs: number;
  try {
    // The seed's ops must be in the table (its latency sets the target), unless asked to estimate them
    // or the seed was priced so (seedMissing).
    const prediction = predictLatency(oracle.deployed(seed), table, {
      estimate: settings.latencyMissing === 'estimate' || seedMissing === 'estimate',
      interpolate: seedMissing === 'interpolate',
    });
    seedLatencyMs = prediction.totalMs;
    if (prediction.estimated.length)
      request.log?.warn(`the seed's latency counts ${prediction.estimated.length} ops not in table ${table.name}, estimated`);
  } catch (err) {
    if (err instanceof MissingKeysError) {
      const estimate = 'estimate them (--latency-missing estimate)';
      const what = completedByProfiling(table)
        ? `profile them (nas profile --arch SEED --out TABLE) or ${estimate}`
        : `it was measured on ${table.device.name}, which profiling this machine cannot add to: ${estimate}`;
      throw new InputError(
        `the seed ${seed.name}: table ${table.name} has no entry for ${err.keys.length} of its ops (${err.keys.slice(0, 3).join(', ')}${err.keys.length > 3 ? ', ...' : ''}): ${what}`,
      );
    }
    throw err;
  }
  const targetMs = settings.targetMs ?? seedLatencyMs * settings.targetRatio!;
  if (targetMs >= seedLatencyMs)
    throw new InputError(
      `the target ${targetMs.toFixed(3)} ms is not below the seed's ${seedLatencyMs.toFixed(3)} ms: NetAdapt only makes networks faster`,
    );
  const floorMs = oracle.latencyOf(smallestReachable(seed));
  if (targetMs < floorMs)
    throw new InputError(
      `the target ${targetMs.toFixed(3)} ms is below what any proposal can reach (${floorMs.toFixed(3)} ms with every width at 8 and every removable layer gone)`,
    );
  return { seedLatencyMs, targetMs };
}

/** One NetAdapt run in progress: its directory, history, latency oracle and current network. */
class Adaptation {
  private constructor(
    private readonly request: NetAdaptRequest,
    private readonly log: Logger,
    private readonly run: NetAdaptRunDir,
    private readonly oracle: LatencyOracle,
    private readonly history: History,
    /** The seed's latency and the target as this run's settings and table give them (a resume computes them again). */
    private readonly seedLatencyMs: number,
    readonly targetMs: number,
    public current: Current,
    /** The run's adaptation time: earlier sessions' (the history's) and this one's. */
    private readonly wallTime = new RunWallTime(history.wallSeconds ?? 0),
  ) {}

  /** Opens the run directory (new or resumed), checks the seed and the target, and writes the history. */
  static async start(request: NetAdaptRequest): Promise<Adaptation> {
    const { seed, settings } = request;
    const log = request.log ?? silentLogger;
    const seedCkpt = loadSeedCheckpoint(request);
    const run = new NetAdaptRunDir(request.outDir);
    const priced = tableRef(request.table, request.tableFile ?? null);
    const resumed = run.open({ seedHash: specHash(seed), table: priced, dataset: request.dataset.name }, Boolean(request.resume));
    const seedMissing = seedPricing(seed, request.table.name, settings.latencyMissing);
    if (seedMissing)
      log.info(
        { table: request.table.name, missing: seedMissing },
        `latency-missing auto: ops table ${request.table.name} lacks are ${seedMissing}d, as when the seed ${seed.name} was priced (its provenance.deployment.missing)`,
      );
    const oracle = new LatencyOracle(
      request.table,
      { resolution: settings.latencyResolution, classes: settings.latencyClasses, missing: seedMissing ?? settings.latencyMissing },
      resumed?.measuredEntries ?? {},
    );
    if (oracle.missing !== 'measure')
      log.info(
        { table: request.table.name, missing: oracle.missing },
        `ops table ${request.table.name} lacks are ${oracle.missing}d (flagged in each proposal's estimatedOps)`,
      );
    const { seedLatencyMs, targetMs } = latencyTarget(request, oracle, seedMissing);
    const history: History = resumed ?? {
      schemaVersion: NETADAPT_HISTORY_VERSION,
      kind: 'netadapt-history',
      tool: TOOL_NAME,
      seedSpec: specHash(seed),
      seedCheckpoint: seedCkpt.dir,
      seedLatencyMs,
      seedAccuracy: validationAccuracy(seed, seedCkpt.dir, request.dataset, request.finetune),
      targetMs,
      settings: { ...settings, finetuneSamples: request.finetune.trainSamples },
      dataset: request.dataset.name,
      table: request.table.name,
      tableRef: priced,
      steps: [],
      measuredEntries: {},
      finished: false,
    };
    if (request.start && !history.start) history.start = request.start;
    const last = history.steps.at(-1);
    const current: Current = last
      ? {
          spec: last.spec,
          checkpoint: last.checkpoint,
          latencyMs: last.proposals[last.chosen]!.latencyMs,
          accuracy: last.proposals[last.chosen]!.accuracy,
        }
      : { spec: seed, checkpoint: seedCkpt.dir, latencyMs: seedLatencyMs, accuracy: history.seedAccuracy };
    const adaptation = new Adaptation(request, log, run, oracle, history, seedLatencyMs, targetMs, current);
    await adaptation.saveHistory();
    log.info({ seedLatencyMs, targetMs, seedAccuracy: history.seedAccuracy }, 'netadapt');
    return adaptation;
  }

  /**
   * A spec NetAdapt derived from the seed, with the seed's provenance but what no longer holds: the
   * seed's search choices (`choices`: it is no member of that space now) go, and `deployment` says
   * where and how NetAdapt priced it (the seed's deployment input when NetAdapt's latency settings
   * follow it), so that `nas latency --arch` prices it as this run did.
   */
  private adapted(spec: ArchSpec): ArchSpec {
    const { choices: _choices, ...provenance } = spec.provenance as ArchSpec['provenance'] & { choices?: unknown };
    const { settings, table, tableFile } = this.request;
    const deployment = {
      resolution: settings.latencyResolution,
      classes: settings.latencyClasses,
      table: table.name,
      ...(tableFile ? { tableFile: path.resolve(tableFile) } : {}),
      missing: this.oracle.missing,
    };
    return { ...spec, provenance: { ...provenance, deployment } };
  }

  /** Writes the history: the finished steps, the ops measured so far and the wall time. */
  async saveHistory(): Promise<void> {
    this.history.measuredEntries = this.oracle.measured();
    this.history.wallSeconds = this.wallTime.totalSeconds();
    await this.run.writeHistory(this.history);
  }

  /** The error that stops a run whose step left nothing to choose; the steps before it are kept. */
  private everyProposalFailed(step: number, records: readonly ProposalRecord[]): NasError {
    return new NasError(
      `every proposal of step ${step + 1} failed to fine-tune (the first: ${records[0]?.error ?? 'none proposed'}); the ${step} step(s) before it are kept in ${this.run.dir}`,
    );
  }

  /** One step: every proposal that cuts enough latency, each fine-tuned from the current weights; the best one kept. */
  async step(): Promise<void> {
    const step = this.history.steps.length;
    const { deltaMs, proposals } = await this.propose(step);
    const records = await this.evaluateAll(step, proposals);
    const { current, history } = this;
    const chosen = choose(records, current, this.request.settings.metric, this.targetMs);
    if (chosen < 0) throw this.everyProposalFailed(step, records);
    const pick = proposals[chosen]!;
    history.steps.push({
      step: step + 1,
      deltaMs,
      before: { latencyMs: current.latencyMs, accuracy: current.accuracy },
      proposals: records,
      chosen,
      spec: pick.spec,
      checkpoint: path.join(records[chosen]!.dir, CHECKPOINT_DIR),
    });
    await this.saveHistory();
    this.current = {
      spec: pick.spec,
      checkpoint: path.join(records[chosen]!.dir, CHECKPOINT_DIR),
      latencyMs: records[chosen]!.latencyMs,
      accuracy: records[chosen]!.accuracy,
    };
    this.log.info(
      {
        step: step + 1,
        chosen: pick.description,
        latencyMs: this.current.latencyMs,
        accuracy: this.current.accuracy,
        proposals: records.length,
      },
      'netadapt step',
    );
  }

  /**
   * The proposals of step `step` (0-based): delta (never more than what is left to the target, so
   * the last step lands near the target instead of a whole delta below it), halved up to four
   * times near the end when no change saves a whole one.
   */
  private async propose(step: number): Promise<{ deltaMs: number; proposals: Proposal[] }> {
    const { settings, seed } = this.request;
    const { current } = this;
    const scheduledMs = settings.deltaRatio * this.seedLatencyMs * settings.deltaDecay ** step;
    let deltaMs = Math.min(scheduledMs, current.latencyMs - this.targetMs);
    const name = (kind: ProposalKind, target: string[]) => `${seed.name}-na${step + 1}-${kind}-${target[0]}`;
    const latencyOf = (s: ArchSpec) => this.oracle.latencyOf(s);
    const proposalsAt = (delta: number) =>
      generateProposals(current.spec, current.latencyMs, delta, latencyOf, name).map((p) => ({ ...p, spec: this.adapted(p.spec) }));
    let proposals = proposalsAt(deltaMs);
    // Near the end no single change may save a whole delta: accept smaller steps before giving up.
    for (let tries = 0; !proposals.length && tries < 4; tries++) {
      deltaMs /= 2;
      proposals = proposalsAt(deltaMs);
    }
    await this.saveHistory();
    if (!proposals.length) {
      throw new InputError(
        `no proposal can cut ${current.latencyMs.toFixed(3)} ms further toward the target ${this.targetMs.toFixed(3)} ms after ${step} steps; the history is kept in ${this.run.file('history')}`,
      );
    }
    return { deltaMs, proposals };
  }

  /** Every proposal's result, trained at once (as the evaluator allows); an abort keeps the finished ones. */
  private async evaluateAll(step: number, proposals: readonly Proposal[]): Promise<ProposalRecord[]> {
    let done = 0;
    const progress = () =>
      this.request.onProgress?.({
        step: step + 1,
        latencyMs: this.current.latencyMs,
        targetMs: this.targetMs,
        accuracy: this.current.accuracy,
        proposalsDone: ++done,
        proposals: proposals.length,
      });
    return Promise.all(
      proposals.map(async (p, i) => {
        const record = await this.evaluate(p, this.run.proposalDir(step + 1, i));
        progress();
        return record;
      }),
    ).catch((err: unknown) => {
      if (err instanceof InterruptedError || this.request.signal?.aborted) {
        throw new InterruptedError(
          `NetAdapt interrupted in step ${step + 1}: finished steps and proposals are kept in ${this.request.outDir}; continue with ${resumeCommand('netadapt', this.request.outDir)}`,
        );
      }
      throw err;
    });
  }

  /** A proposal's result: the one saved in `dir`, or a fine-tune from the current network's weights. */
  private async evaluate(p: Proposal, dir: string): Promise<ProposalRecord> {
    const saved = this.run.readProposal(dir);
    if (saved) return saved;
    const { signal, evaluator } = this.request;
    if (signal?.aborted) throw new InterruptedError('');
    // An abort does not wait for the fine-tune: the pool is closed next (its workers killed), an
    // in-process fine-tune stops at its next step (the signal), and the proposal is fine-tuned
    // again on resume.
    const evaluation = await untilAborted(
      evaluator.evaluate(p.spec, {
        inheritFrom: { spec: this.current.spec, checkpoint: this.current.checkpoint },
        outDir: dir,
        signal,
      }),
      signal,
    );
    const record: ProposalRecord = {
      kind: p.kind,
      target: p.target,
      description: p.description,
      latencyMs: p.latencyMs,
      estimatedOps: this.oracle.predict(p.spec).estimated.length,
      accuracy: evaluation.accuracy,
      dir,
      error: evaluation.error,
    };
    await this.run.writeProposal(record, p.spec);
    return record;
  }

  /** Marks the run finished and writes the result's spec and the plot. */
  async finish(): Promise<NetAdaptResult> {
    const { history, current, request } = this;
    const { seed } = request;
    history.finished = true;
    await this.saveHistory();
    const adapted = this.adapted(current.spec);
    const final = parseArchSpec(
      {
        ...adapted,
        name: `${seed.name}-netadapt`,
        provenance: {
          ...adapted.provenance,
          command: 'nas netadapt',
          source: `NetAdapt of ${seed.name}: ${history.steps.length} steps to ${current.latencyMs.toFixed(3)} ms (target ${this.targetMs.toFixed(3)} ms) on ${request.table.name}`,
        },
      },
      'NetAdapt result',
    );
    await this.run.writeFinal(final);
    await this.run.writePlot(historyPlot(history));
    return {
      history,
      final,
      finalCheckpoint: resolveCheckpointDir(current.checkpoint),
      finalLatencyMs: current.latencyMs,
      finalAccuracy: current.accuracy,
    };
  }
}

/**
 * The MobileNetV3 metric (max dAcc/|dLat|) or the original NetAdapt one (max accuracy). A cut
 * counts only up to the target (`targetMs`): any proposal that reaches it ends the run, and
 * latency saved beyond it buys nothing, so those proposals rank by accuracy among themselves
 * instead of rewarding the one that overshoots most (e.g. removing a layer when a narrower
 * expansion would have been enough). -1 when every proposal failed.
 */
export function choose(
  records: readonly ProposalRecord[],
  current: { latencyMs: number; accuracy: number },
  metric: SelectionMetric,
  targetMs = -Infinity,
): number {
  const countedCut = (latencyMs: number) => Math.min(Math.abs(current.latencyMs - latencyMs), current.latencyMs - targetMs);
  let best = -1;
  let bestScore = -Infinity;
  records.forEach((r, i) => {
    if (r.error) return;
    const score = metric === 'accuracy' ? r.accuracy : (r.accuracy - current.accuracy) / Math.max(countedCut(r.latencyMs), 1e-9);
    if (score > bestScore) [best, bestScore] = [i, score];
  });
  return best;
}

function historyPlot(history: History): string {
  const points = history.steps.flatMap((s) =>
    s.proposals.map((p) => ({ x: p.latencyMs, y: 100 * p.accuracy, group: 'proposals', label: `step ${s.step}: ${p.description}` })),
  );
  const path = [
    { x: history.seedLatencyMs, y: 100 * history.seedAccuracy, group: 'chosen path', label: 'seed' },
    ...history.steps.map((s) => ({
      x: s.proposals[s.chosen]!.latencyMs,
      y: 100 * s.proposals[s.chosen]!.accuracy,
      group: 'chosen path',
      label: `step ${s.step}: ${s.proposals[s.chosen]!.description}`,
    })),
  ];
  return scatterPlot([...points, ...path], {
    title: `NetAdapt: accuracy vs latency (${history.steps.length} steps)`,
    xLabel: `latency on ${history.table} (ms)`,
    yLabel: 'validation top-1 after fine-tuning (%)',
    lines: ['chosen path'],
  });
}
