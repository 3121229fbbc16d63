/**
 * The end of a supernet search: rank members by their accuracy with inherited weights, and write
 * them out.
 *
 * Candidates are the controller's most likely member and members it draws, `candidates` distinct
 * architectures in all when the controller yields that many in 20 batches of draws. Each is
 * judged fairly against the others: its batch-norm statistics are re-estimated on a few training
 * batches (a shared set of BN statistics fits no member), then it is evaluated on the first
 * `rankingSamples` validation images, and rewarded with its table latency. With
 * `finetuneSteps`, the top `topK` are then fine-tuned and ranked again (finetune.ts).
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { resumeCommand } from '../common/command-line.js';
import { InterruptedError } from '../common/errors.js';
import { writeJsonAtomic } from '../common/json-io.js';
import { derive, nextSeed, type Rng } from '../common/rng.js';
import { TOOL_NAME } from '../common/version.js';
import type { Experiment } from '../controller/experiment.js';
import type { Policy } from '../controller/policy.js';
import { bestSpecRecord, type ChosenArchitecture, type SearchSummary, writeSearchOutputs } from '../controller/report.js';
import { reward } from '../controller/reward.js';
import type { SearchSetup } from '../controller/setup.js';
import type { TrialStore } from '../controller/store.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { specHash } from '../search-space/spec-hash.js';
import { buildModel } from '../trainer/build-model.js';
import { assignWeights, CHECKPOINT_DIR, type InheritedWeightsState, SPEC_JSON, saveCheckpoint } from '../trainer/checkpoint.js';
import type { ImageBatcher } from '../trainer/data/batches.js';
import { tf } from '../trainer/tf.js';
import { type SupernetSettings, supernetSettings } from './settings.js';
import { BatchNormStats, type Supernet } from './supernet.js';
import type { SupernetRunDir } from './supernet-run.js';

export interface RankedCandidate {
  choices: number[];
  accuracy: number;
  latencyMs: number;
  reward: number;
  /** The controller's most likely member. */
  mostLikely: boolean;
  stats: BatchNormStats;
  /** Set when it was fine-tuned (finetune.ts): `accuracy` is then the fine-tuned one. */
  finetuned?: { checkpoint: string; inheritedAccuracy: number; error: string | null };
}

export interface RankingRequest {
  /** The run directory (for the message of an interrupted ranking). */
  runDir: string;
  supernet: Supernet;
  policy: Policy;
  experiment: Experiment;
  setup: SearchSetup;
  settings: SupernetSettings;
  train: ImageBatcher;
  validation: ImageBatcher;
  latencyOf: (choices: readonly number[]) => number;
  onProgress?: (done: number, of: number) => void;
  signal?: AbortSignal;
}

/** Candidates ranked by reward, best first. */
export async function rankCandidates(request: RankingRequest): Promise<RankedCandidate[]> {
  const candidates = await drawCandidates(request);
  const ranked: RankedCandidate[] = [];
  for (const [i, { choices, mostLikely }] of candidates.entries()) {
    if (request.signal?.aborted)
      throw new InterruptedError(
        `supernet search interrupted while ranking: the trained supernet is kept in ${request.runDir}; continue with ${resumeCommand('search', request.runDir)}`,
      );
    // The same calibration batches for every candidate.
    const rng = derive(request.experiment.seed, 'recalibrate');
    const stats = recalibrate(request.supernet, request.train, request.settings.recalibrationBatches, rng, choices);
    const accuracy = evaluateMember(request.supernet, choices, stats, request.validation, request.settings.rankingSamples);
    const latencyMs = request.latencyOf(choices);
    ranked.push({ choices, accuracy, latencyMs, reward: reward(accuracy, latencyMs, request.setup.rewardSettings), mostLikely, stats });
    request.onProgress?.(i + 1, candidates.length);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return ranked.sort((a, b) => b.reward - a.reward);
}

/**
 * Members to rank, each a distinct architecture: choices that differ only where the architecture
 * ignores them (a layer's options past its stage's depth) are one network, ranked once.
 */
export async function drawCandidates({
  supernet,
  policy,
  experiment,
  settings,
}: Pick<RankingRequest, 'supernet' | 'policy' | 'experiment' | 'settings'>): Promise<{ choices: number[]; mostLikely: boolean }[]> {
  const seen = new Set<string>();
  const out: { choices: number[]; mostLikely: boolean }[] = [];
  const add = (choices: number[], mostLikely: boolean) => {
    const key = specHash(supernet.member(choices));
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ choices, mostLikely });
  };
  const likeliest = policy.mostLikely();
  if (likeliest) add(likeliest, true);
  // A controller that has settled draws the same few members again and again: keep drawing (up to
  // MAX_DRAW_ROUNDS batches) until `candidates` distinct ones, so the ranking has something to rank.
  for (let round = 0; round < MAX_DRAW_ROUNDS && out.length < settings.candidates; round++) {
    const drawn = await policy.sample(settings.candidates, nextSeed(derive(experiment.seed, 'candidates', round)));
    for (const choices of drawn.choices) if (out.length < settings.candidates) add(choices, false);
  }
  return out;
}

const MAX_DRAW_ROUNDS = 20;

/** Batch-norm statistics of one member, averaged over `batches` training batches drawn from `rng`. */
export function recalibrate(
  supernet: Supernet,
  train: ImageBatcher,
  batches: number,
  rng: Rng,
  choices: readonly number[],
): BatchNormStats {
  const stats = new BatchNormStats();
  const size = Math.min(64, train.count);
  for (let b = 0; b < batches; b++) {
    const indices = Int32Array.from({ length: size }, () => Math.floor(rng() * train.count));
    const batch = train.batch(indices);
    tf.tidy(() => supernet.forward(choices, batch.x as tf.Tensor4D, { kind: 'calibrate', stats }));
    tf.dispose([batch.x, batch.y]);
  }
  return stats;
}

/** Top-1 of a member with fixed (recalibrated) statistics on the first `samples` images of a split. */
export function evaluateMember(
  supernet: Supernet,
  choices: readonly number[],
  stats: BatchNormStats,
  split: ImageBatcher,
  samples: number,
): number {
  const n = Math.min(samples, split.count);
  let correct = 0;
  for (let start = 0; start < n; start += 250) {
    const indices = Int32Array.from({ length: Math.min(250, n - start) }, (_, i) => start + i);
    const batch = split.batch(indices);
    const predicted = tf.tidy(() => tf.argMax(supernet.forward(choices, batch.x as tf.Tensor4D, { kind: 'fixed', stats }), 1).dataSync());
    for (let i = 0; i < indices.length; i++) if (predicted[i] === batch.labels[i]) correct++;
    tf.dispose([batch.x, batch.y]);
  }
  return correct / n;
}

export interface RankingOutputs {
  run: SupernetRunDir;
  store: TrialStore;
  experiment: Experiment;
  setup: SearchSetup;
  ranking: RankedCandidate[];
  supernet: Supernet;
  command: string;
  /** The run's wall time over every session, and this session's. */
  wallSeconds: number;
  sessionWallSeconds: number;
}

/**
 * candidates.json, the top-k specs, the controller's most likely member, best.json (the first
 * ranked) with its inherited weights as a checkpoint, and the search outputs of every run.
 */
export async function writeRankingOutputs(options: RankingOutputs): Promise<SearchSummary> {
  const { run, experiment, setup, ranking, supernet } = options;
  const { topK, rankingSamples, finetuneSteps } = supernetSettings(experiment.supernet);
  const specOf = (c: RankedCandidate, name: string): ArchSpec => {
    const spec = supernet.member(c.choices, name);
    return { ...spec, provenance: { ...spec.provenance, command: options.command, seed: experiment.seed } };
  };
  mkdirSync(run.supernetFile('candidateSpecs'), { recursive: true });
  const listed = [];
  for (const [i, c] of ranking.entries()) {
    const rank = i + 1;
    const file = rank <= topK ? run.candidateSpecFile(rank) : null;
    if (file) await writeJsonAtomic(file, specOf(c, `${experiment.name}-rank${rank}`));
    listed.push({
      rank,
      choices: c.choices,
      accuracy: c.accuracy,
      latencyMs: c.latencyMs,
      reward: c.reward,
      mostLikely: c.mostLikely,
      spec: file,
      ...(c.finetuned ? { inheritedAccuracy: c.finetuned.inheritedAccuracy, finetuneError: c.finetuned.error } : {}),
    });
  }
  const likeliest = ranking.find((c) => c.mostLikely);
  if (likeliest) await writeJsonAtomic(run.supernetFile('controllerBest'), specOf(likeliest, `${experiment.name}-controller-best`));
  await writeJsonAtomic(run.supernetFile('candidates'), {
    schemaVersion: 1,
    kind: 'supernet-candidates',
    tool: TOOL_NAME,
    seed: experiment.seed,
    table: setup.table.name,
    targetMs: setup.rewardSettings.targetMs,
    accuracy: `top-1 on the first ${rankingSamples} validation images with inherited weights, batch norm recalibrated${finetuneSteps ? `; the top ${topK} after ${finetuneSteps} steps of fine-tuning from them (inheritedAccuracy: before)` : ''}`,
    candidates: listed,
  });
  const best = ranking[0]!;
  const chosen: ChosenArchitecture = {
    spec: specOf(best, `${experiment.name}-best`),
    accuracy: best.accuracy,
    latencyMs: best.latencyMs,
    reward: best.reward,
    source: `supernet search ${experiment.name}, rank 1 of ${ranking.length} candidates (inherited weights${best.finetuned && !best.finetuned.error ? `, fine-tuned ${finetuneSteps} steps` : ''})`,
  };
  // The checkpoint holds best.json itself (deployment and pricing included), so a NetAdapt seeded from it prices it as the search did.
  const bestSpec = bestSpecRecord(experiment, setup, chosen);
  await writeBestWeights(run.supernetFile('bestWeights'), supernet, best, bestSpec, experiment.proxy.dataset);
  return writeSearchOutputs({
    run,
    store: options.store,
    experiment,
    setup,
    wallSeconds: options.wallSeconds,
    sessionWallSeconds: options.sessionWallSeconds,
    seed: experiment.seed,
    chosen,
    extra: { evaluator: 'supernet', candidates: ranking.length, controllerBest: likeliest ? run.supernetFile('controllerBest') : null },
  });
}

/**
 * The best candidate's weights as a checkpoint in `dir`: its fine-tuned ones when it was fine-tuned,
 * else (or when its fine-tune failed: every top candidate's did) its inherited ones.
 */
async function writeBestWeights(dir: string, supernet: Supernet, best: RankedCandidate, spec: ArchSpec, dataset: string): Promise<void> {
  if (!best.finetuned) return writeInheritedCheckpoint(dir, supernet, best, spec, dataset);
  if (best.finetuned.error)
    return writeInheritedCheckpoint(dir, supernet, { ...best, accuracy: best.finetuned.inheritedAccuracy }, spec, dataset);
  rmSync(dir, { recursive: true, force: true });
  cpSync(path.join(best.finetuned.checkpoint, CHECKPOINT_DIR), path.join(dir, CHECKPOINT_DIR), { recursive: true });
  // The same architecture under best.json's name and provenance, so the two read as one model.
  await writeJsonAtomic(path.join(dir, CHECKPOINT_DIR, SPEC_JSON), spec);
  // Its checkpoint is an ordinary training's: this record says the directory is the search's result,
  // which no run may take for its own (refuseOtherRunKind), nor nas train --resume continue.
  await writeJsonAtomic(path.join(dir, FINETUNED_WEIGHTS_FILE), {
    schemaVersion: 1,
    kind: 'supernet-finetuned-weights',
    tool: TOOL_NAME,
    spec: spec.name,
    finetunedFrom: best.finetuned.checkpoint,
  });
}

/** The record in a supernet search's best-weights/ when they are a fine-tune's (see writeBestWeights). */
export const FINETUNED_WEIGHTS_FILE = 'finetuned-weights.json';

/**
 * A member's inherited weights as an ordinary checkpoint of its spec (for fine-tuning or NetAdapt),
 * naming the dataset the supernet trained on (which `nas netadapt` then fine-tunes on by default).
 */
export async function writeInheritedCheckpoint(
  dir: string,
  supernet: Supernet,
  member: Pick<RankedCandidate, 'choices' | 'stats'> & { accuracy: number | null },
  spec: ArchSpec,
  dataset: string,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const model = buildModel(spec);
  try {
    assignWeights(model, supernet.memberWeights(member.choices, member.stats), 'supernet member');
    const state: InheritedWeightsState = { kind: 'inherited-weights', tool: TOOL_NAME, dataset, validationTop1: member.accuracy };
    await saveCheckpoint(dir, model, spec, state);
  } finally {
    model.dispose();
  }
}
