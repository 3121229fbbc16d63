/**
 * One shard of a controller update: the policy-gradient objectives (REINFORCE, PPO's clipped
 * surrogate) and the gradients of one slice of a batch. The main thread and the shard workers
 * (./shard-pool.ts) run the same code; summing the shards' gradients gives the whole batch's.
 */
import { tf } from '../trainer/tf.js';
import { disposeTrace, type LstmNetwork, type LstmTrace } from './lstm.js';

export interface ObjectiveSettings {
  algorithm: 'ppo' | 'reinforce';
  /** PPO's clip range. */
  clip: number;
  entropyWeight: number;
}

/** A slice of a batch; `batchSize` is the whole batch's (every mean divides by it). */
export interface ShardBatch {
  tokens: number[][];
  oldLogProbs: ArrayLike<number>;
  advantages: ArrayLike<number>;
  batchSize: number;
}

export interface ShardGradients<T> {
  /** Keyed by weight name. */
  grads: Record<string, T>;
  /** This shard's share of the batch's mean objective. */
  objective: number;
  /** Summed entropy of the shard's sequences. */
  entropySum: number;
}

export interface Objective {
  /** This shard's share of the batch's mean objective (to maximise). */
  value: number;
  /** Its derivative with respect to each sequence's log-probability. */
  gradient: Float32Array;
}

/** mean(A * log pi). */
export function reinforceObjective(logProb: Float32Array, advantages: ArrayLike<number>, batchSize: number): Objective {
  let value = 0;
  for (let i = 0; i < logProb.length; i++) value += (advantages[i]! * logProb[i]!) / batchSize;
  return { value, gradient: Float32Array.from({ length: logProb.length }, (_, i) => advantages[i]! / batchSize) };
}

/**
 * PPO's clipped surrogate, mean(min(r A, clip(r, 1 - eps, 1 + eps) A)) with r = pi / pi_old.
 * Where the clipped term is the smaller one, r lies outside the clip range and the term is flat.
 */
export function ppoObjective(
  logProb: Float32Array,
  oldLogProb: ArrayLike<number>,
  advantages: ArrayLike<number>,
  clip: number,
  batchSize: number,
): Objective {
  const gradient = new Float32Array(logProb.length);
  let value = 0;
  for (let i = 0; i < logProb.length; i++) {
    const ratio = Math.exp(logProb[i]! - oldLogProb[i]!);
    const a = advantages[i]!;
    const unclipped = ratio * a;
    const clipped = Math.min(Math.max(ratio, 1 - clip), 1 + clip) * a;
    value += Math.min(unclipped, clipped) / batchSize;
    if (unclipped <= clipped) gradient[i] = unclipped / batchSize;
  }
  return { value, gradient };
}

/**
 * Forward pass, objective and gradients (of the loss: minus objective minus entropy bonus) of one
 * shard. `trace`: the shard's trace under the current weights when the caller has it (from
 * sampling); it is used instead of a forward pass, and disposed like one.
 */
export function shardGradients(
  network: LstmNetwork,
  batch: ShardBatch,
  settings: ObjectiveSettings,
  trace = network.forward(batch.tokens),
): ShardGradients<tf.Tensor> {
  try {
    const objective =
      settings.algorithm === 'ppo'
        ? ppoObjective(trace.logProb, batch.oldLogProbs, batch.advantages, settings.clip, batch.batchSize)
        : reinforceObjective(trace.logProb, batch.advantages, batch.batchSize);
    const byVariable = network.gradients(
      trace,
      objective.gradient.map((g) => -g),
      settings.entropyWeight,
      batch.batchSize,
    );
    return { grads: network.byWeightName(byVariable), objective: objective.value, entropySum: trace.entropy.reduce((s, x) => s + x, 0) };
  } finally {
    disposeTrace(trace);
  }
}

/** shardGradients with the gradients read out as arrays (own buffers, free to transfer) and the tensors freed. */
export function shardGradientArrays(
  network: LstmNetwork,
  batch: ShardBatch,
  settings: ObjectiveSettings,
  trace?: LstmTrace,
): ShardGradients<Float32Array> {
  const shard = shardGradients(network, batch, settings, trace);
  const grads = Object.fromEntries(Object.entries(shard.grads).map(([key, tensor]) => [key, (tensor.dataSync() as Float32Array).slice()]));
  tf.dispose(Object.values(shard.grads));
  return { ...shard, grads };
}
