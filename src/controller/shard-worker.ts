/**
 * Entry of a controller shard worker (./shard-pool.ts): one LSTM copy on its own tfjs backend,
 * answering sample and gradient requests for shards of a batch with the weights sent along.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { derive } from '../common/rng.js';
import { prepareBackend } from '../trainer/backend.js';
import type { BackendName } from '../trainer/backend-names.js';
import { disposeTrace, LstmNetwork, type LstmTrace } from './lstm.js';
import { shardGradientArrays } from './shard.js';
import type { ShardReply, ShardRequest, WorkerInit } from './shard-pool.js';

const port = parentPort!;
const init = workerData as WorkerInit;

/** The trace of the shard drawn last, for a gradients request that follows it. */
let sampledTrace: { trace: LstmTrace; count: number } | null = null;

function takeSampledTrace(): { trace: LstmTrace; count: number } | null {
  const kept = sampledTrace;
  sampledTrace = null;
  return kept;
}

function answer(request: ShardRequest, network: LstmNetwork): ShardReply {
  const kept = takeSampledTrace();
  const usable = request.kind === 'gradients' && request.sampledTrace && kept?.count === request.batch.tokens.length ? kept : null;
  if (kept && !usable) disposeTrace(kept.trace);
  network.setWeights(request.weights);
  if (request.kind === 'sample') {
    const { tokens, logProb, trace } = network.sampleWithTrace(request.count, derive(request.seed, 'multinomial', request.shard));
    sampledTrace = { trace, count: request.count };
    return { id: request.id, kind: 'sample', result: { tokens, logProb } };
  }
  return { id: request.id, kind: 'gradients', result: shardGradientArrays(network, request.batch, request.settings, usable?.trace) };
}

try {
  await prepareBackend(init.backend as BackendName);
  const network = new LstmNetwork(init.shape, derive(0, 'shard-worker'));
  port.on('message', (request: ShardRequest) => {
    try {
      const reply = answer(request, network);
      const buffers = reply.kind === 'gradients' ? Object.values(reply.result.grads).map((g) => g.buffer as ArrayBuffer) : [];
      port.postMessage(reply, buffers);
    } catch (err) {
      port.postMessage({ id: request.id, kind: 'error', message: (err as Error).message } satisfies ShardReply);
    }
  });
  port.postMessage({ kind: 'ready' } satisfies ShardReply);
} catch (err) {
  port.postMessage({ kind: 'error', message: (err as Error).message } satisfies ShardReply);
}
