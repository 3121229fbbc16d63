/**
 * NetAdapt (Yang et al.) as MobileNetV3 used it: from a trained seed, each step proposes every
 * simplification that cuts the predicted latency by at least delta, gives each proposal the
 * previous step's weights (inherited by layer ids), fine-tunes it briefly, evaluates it on the
 * validation split and keeps the one that maximises dAcc / |dLatency| (or, as the original
 * NetAdapt, the most accurate one), until the latency target is met.
 *
 * The output directory is the durable state: history.json lists every finished step (all
 * proposals with latency and accuracy, the chosen one) and is rewritten atomically after each;
 * each proposal trains into its own directory and is reused when present. A killed run resumes at
 * the first unfinished step, and inside it trains only the proposals without a result.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, InterruptedError } from '../common/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../common/json-io.js';
import { type Logger, silentLogger } from '../common/log.js';
import { scatterPlot } from '../common/svg.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import { LatencyOracle } from '../latency-model/predict/oracle.js';
import { MissingKeysError, predictLatency } from '../latency-model/predict/predict.js';
import { EntrySchema, type LatencyTable } from '../latency-model/predict/table-schema.js';
import { type ArchSpec, ArchSpecSchema, type Block, parseArchSpec } from '../search-space/archspec.js';
import { specHash } from '../search-space/spec-hash.js';
import { buildModel } from '../trainer/build-model.js';
import { assignWeights, CHECKPOINT_DIR, loadCheckpoint, resolveCheckpointDir } from '../trainer/checkpoint.js';
import type { TrainConfig } from '../trainer/config.js';
import type { TrainingData } from '../trainer/data/index.js';
import { batcherFor, evaluate } from '../trainer/train.js';
import type { Evaluator } from '../trainer/training-pool.js';
import { generateProposals, type ProposalKind } from './proposals.js';

export type SelectionMetric = 'ratio' | 'accuracy';

export interface NetAdaptSettings {
  targetMs?: number;
  targetRatio?: number;
  deltaRatio: number;
  /** Per-step decay of delta (1: none; the original NetAdapt used 0.96). */
  deltaDecay: number;
  metric: SelectionMetric;
  /** Resolution and classifier width of the deployed model whose latency counts. */
  latencyResolution: number;
  latencyClasses: number;
}

const ProposalRecordSchema = z.object({
  kind: z.enum(['expansion', 'bottleneck', 'remove-layer']),
  target: z.array(z.string()),
  description: z.string(),
  latencyMs: z.number(),
  accuracy: z.number(),
  dir: z.string(),
  error: z.string().nullable(),
});
export type ProposalRecord = z.infer<typeof ProposalRecordSchema>;

const StepRecordSchema = z.object({
  step: z.int(),
  deltaMs: z.number(),
  before: z.object({ latencyMs: z.number(), accuracy: z.number() }),
  proposals: z.array(ProposalRecordSchema),
  chosen: z.int(),
  spec: ArchSpecSchema,
  checkpoint: z.string(),
});
export type StepRecord = z.infer<typeof StepRecordSchema>;

const HistorySchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('netadapt-history'),
  tool: z.string(),
  seedSpec: z.string(),
  seedCheckpoint: z.string(),
  seedLatencyMs: z.number(),
  seedAccuracy: z.number(),
  targetMs: z.number(),
  settings: z.unknown(),
  table: z.string(),
  steps: z.array(StepRecordSchema),
  /** Latencies measured on this machine for ops the table lacked. */
  measuredEntries: z.record(z.string(), EntrySchema),
  finished: z.boolean(),
});
export type History = z.infer<typeof HistorySchema>;

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
  settings: NetAdaptSettings;
  dataset: TrainingData;
  /** Fine-tuning of each proposal (a step budget is epochs 1 with trainSamples = steps x batch). */
  finetune: TrainConfig;
  evaluator: Evaluator;
  outDir: string;
  resume?: boolean;
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

const HISTORY_FILE = 'history.json';

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

export async function runNetAdapt(request: NetAdaptRequest): Promise<NetAdaptResult> {
  const { seed, settings, outDir, dataset } = request;
  const log = request.log ?? silentLogger;
  const seedCkpt = loadCheckpoint(request.seedCheckpoint, (d) => d);
  if (specHash(seedCkpt.spec) !== specHash(seed)) {
    throw new InputError(
      `${seedCkpt.dir}: the checkpoint belongs to ${seedCkpt.spec.name}, not to the seed spec ${seed.name}; pass the checkpoint trained from it`,
    );
  }
  const historyFile = path.join(outDir, HISTORY_FILE);
  let history: History | null = null;
  if (request.resume) {
    if (!existsSync(historyFile)) throw new InputError(`${outDir}: no ${HISTORY_FILE} to resume from; drop --resume`);
    history = parseWith(HistorySchema, readJsonFile(historyFile), historyFile);
    if (history.seedSpec !== specHash(seed)) throw new InputError(`${outDir} holds a NetAdapt run of another seed; choose a new --out`);
  } else if (existsSync(historyFile)) {
    throw new InputError(`${outDir} already holds a NetAdapt run: continue it with --resume or choose a new --out`);
  }
  mkdirSync(outDir, { recursive: true });
  const oracle = new LatencyOracle(
    request.table,
    { resolution: settings.latencyResolution, classes: settings.latencyClasses },
    history?.measuredEntries ?? {},
  );

  let seedLatencyMs: number;
  try {
    seedLatencyMs = predictLatency(oracle.deployed(seed), request.table).totalMs;
  } catch (err) {
    if (err instanceof MissingKeysError) throw new InputError(`the seed ${seed.name}: ${err.message}`);
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

  history ??= {
    schemaVersion: 1,
    kind: 'netadapt-history',
    tool: TOOL_NAME,
    seedSpec: specHash(seed),
    seedCheckpoint: seedCkpt.dir,
    seedLatencyMs,
    seedAccuracy: validationAccuracy(seed, seedCkpt.dir, dataset, request.finetune),
    targetMs,
    settings: { ...settings, finetuneSamples: request.finetune.trainSamples },
    table: request.table.name,
    steps: [],
    measuredEntries: {},
    finished: false,
  };
  const save = async () => {
    history!.measuredEntries = oracle.measured();
    await writeJsonAtomic(historyFile, history);
  };
  await save();
  log.info({ seedLatencyMs, targetMs, seedAccuracy: history.seedAccuracy }, 'netadapt');

  let current = { spec: seed, checkpoint: seedCkpt.dir, latencyMs: seedLatencyMs, accuracy: history.seedAccuracy };
  const last = history.steps.at(-1);
  if (last)
    current = {
      spec: last.spec,
      checkpoint: last.checkpoint,
      latencyMs: last.proposals[last.chosen]!.latencyMs,
      accuracy: last.proposals[last.chosen]!.accuracy,
    };

  while (current.latencyMs > targetMs) {
    const step = history.steps.length;
    let deltaMs = settings.deltaRatio * seedLatencyMs * settings.deltaDecay ** step;
    const name = (kind: ProposalKind, target: string[]) => `${seed.name}-na${step + 1}-${kind}-${target[0]}`;
    let proposals = generateProposals(current.spec, current.latencyMs, deltaMs, (s) => oracle.latencyOf(s), name);
    // Near the end no single change may save a whole delta: accept smaller steps before giving up.
    for (let tries = 0; !proposals.length && tries < 4; tries++) {
      deltaMs /= 2;
      proposals = generateProposals(current.spec, current.latencyMs, deltaMs, (s) => oracle.latencyOf(s), name);
    }
    if (!proposals.length) {
      await save();
      throw new InputError(
        `no proposal can cut ${current.latencyMs.toFixed(3)} ms further toward the target ${targetMs.toFixed(3)} ms after ${step} steps; the history is kept in ${historyFile}`,
      );
    }
    await save();
    const stepDir = path.join(outDir, 'steps', String(step + 1).padStart(3, '0'));
    let done = 0;
    const records = await Promise.all(
      proposals.map(async (p, i): Promise<ProposalRecord> => {
        const dir = path.join(stepDir, `proposal-${String(i + 1).padStart(2, '0')}`);
        const resultFile = path.join(dir, 'proposal.json');
        let record: ProposalRecord;
        if (existsSync(resultFile)) {
          record = parseWith(ProposalRecordSchema, readJsonFile(resultFile), resultFile);
        } else {
          if (request.signal?.aborted) throw new InterruptedError('');
          const evaluation = await request.evaluator.evaluate(p.spec, {
            inheritFrom: { spec: current.spec, checkpoint: current.checkpoint },
            outDir: dir,
          });
          if (request.signal?.aborted) throw new InterruptedError('');
          record = {
            kind: p.kind,
            target: p.target,
            description: p.description,
            latencyMs: p.latencyMs,
            accuracy: evaluation.accuracy,
            dir,
            error: evaluation.error,
          };
          await writeJsonAtomic(resultFile, { ...record, spec: p.spec });
        }
        request.onProgress?.({
          step: step + 1,
          latencyMs: current.latencyMs,
          targetMs,
          accuracy: current.accuracy,
          proposalsDone: ++done,
          proposals: proposals.length,
        });
        return record;
      }),
    ).catch((err: unknown) => {
      if (err instanceof InterruptedError || request.signal?.aborted) {
        throw new InterruptedError(
          `NetAdapt interrupted in step ${step + 1}: finished steps and proposals are kept in ${outDir}; continue with --resume`,
        );
      }
      throw err;
    });
    const chosen = choose(records, current, settings.metric);
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
    await save();
    current = {
      spec: pick.spec,
      checkpoint: path.join(records[chosen]!.dir, CHECKPOINT_DIR),
      latencyMs: records[chosen]!.latencyMs,
      accuracy: records[chosen]!.accuracy,
    };
    log.info(
      { step: step + 1, chosen: pick.description, latencyMs: current.latencyMs, accuracy: current.accuracy, proposals: records.length },
      'netadapt step',
    );
  }

  history.finished = true;
  await save();
  const final = parseArchSpec(
    {
      ...current.spec,
      name: `${seed.name}-netadapt`,
      provenance: {
        ...current.spec.provenance,
        command: 'nas netadapt',
        source: `NetAdapt of ${seed.name}: ${history.steps.length} steps to ${current.latencyMs.toFixed(3)} ms (target ${targetMs.toFixed(3)} ms) on ${request.table.name}`,
      },
    },
    'NetAdapt result',
  );
  await writeJsonAtomic(path.join(outDir, 'final.json'), final);
  await writeFileAtomic(path.join(outDir, 'netadapt.svg'), historyPlot(history));
  return {
    history,
    final,
    finalCheckpoint: resolveCheckpointDir(current.checkpoint),
    finalLatencyMs: current.latencyMs,
    finalAccuracy: current.accuracy,
  };
}

/** The MobileNetV3 metric (max dAcc/|dLat|) or the original NetAdapt one (max accuracy). */
export function choose(
  records: readonly ProposalRecord[],
  current: { latencyMs: number; accuracy: number },
  metric: SelectionMetric,
): number {
  let best = 0;
  let bestScore = -Infinity;
  records.forEach((r, i) => {
    if (r.error) return;
    const score =
      metric === 'accuracy' ? r.accuracy : (r.accuracy - current.accuracy) / Math.max(Math.abs(current.latencyMs - r.latencyMs), 1e-9);
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
