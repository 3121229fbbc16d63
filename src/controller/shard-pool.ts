/**
 * Worker threads that share large controller batches with the main thread: each holds its own
 * copy of the LSTM (its own tfjs backend), receives the current weights with every request, and
 * samples or differentiates one shard of the batch while the main thread does another. The LSTM's
 * arithmetic grows with the batch while tfjs' per-kernel overhead does not, so at batches of
 * hundreds the second core nearly halves an update.
 *
 * Threads start on first use and do not keep the process alive while idle.
 */
import { Worker } from 'node:worker_threads';
import { tf } from '../trainer/tf.js';
import type { LstmShape } from './lstm.js';
import type { ObjectiveSettings, ShardBatch, ShardGradients } from './shard.js';

export interface WorkerInit {
  shape: LstmShape;
  backend: string;
}

/**
 * A worker keeps the trace of the shard it drew last until its next request: a gradients request
 * with `sampledTrace` (the shard it drew, weights unchanged since) uses it instead of a forward pass.
 */
export type ShardRequest =
  | { id: number; kind: 'sample'; weights: Record<string, Float32Array>; count: number; seed: number; shard: number }
  | {
      id: number;
      kind: 'gradients';
      weights: Record<string, Float32Array>;
      batch: ShardBatch;
      settings: ObjectiveSettings;
      sampledTrace: boolean;
    };

/** A request before the pool numbers it (Omit of each member of the union). */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface SampledShard {
  tokens: number[][];
  logProb: Float32Array;
}

export type ShardReply =
  | { kind: 'ready' }
  | { id: number; kind: 'sample'; result: SampledShard }
  | { id: number; kind: 'gradients'; result: ShardGradients<Float32Array> }
  | { id?: number; kind: 'error'; message: string };

interface Pending {
  resolve: (reply: ShardReply) => void;
  reject: (error: Error) => void;
}

class ShardThread {
  private readonly thread: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;
  private started = false;
  readonly ready: Promise<void>;

  constructor(init: WorkerInit) {
    this.thread = new Worker(new URL('./shard-worker.js', import.meta.url), { workerData: init });
    this.ready = new Promise<void>((resolve, reject) => {
      const onReady = (reply: ShardReply) => {
        if (reply.kind === 'ready') {
          this.started = true;
          resolve();
        } else if (reply.kind === 'error' && reply.id === undefined)
          reject(new Error(`controller shard worker failed to start: ${reply.message}`));
        else return;
        this.thread.off('message', onReady);
        this.thread.on('message', (message: ShardReply) => this.settle(message));
        this.idle();
      };
      this.thread.on('message', onReady);
      // Either ends a thread that has not started (or a request in flight) with an error.
      const fail = (error: Error) => {
        reject(error);
        this.fail(error);
      };
      this.thread.on('error', fail);
      this.thread.on('exit', (code) => fail(new Error(`controller shard worker exited with code ${code}`)));
    });
  }

  /**
   * Posts at once when the thread is up (not after an await: the caller's own shard runs
   * synchronously right after this call, and the worker must be busy meanwhile).
   */
  request(message: Unnumbered<ShardRequest>): Promise<ShardReply> {
    if (!this.started) return this.ready.then(() => this.request(message));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    this.thread.ref();
    return new Promise<ShardReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread.postMessage({ ...message, id });
    });
  }

  private settle(reply: ShardReply): void {
    if (!('id' in reply) || reply.id === undefined) return;
    const waiting = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    this.idle();
    if (reply.kind === 'error') waiting?.reject(new Error(`controller shard worker: ${reply.message}`));
    else waiting?.resolve(reply);
  }

  /** An idle thread must not keep the process alive. */
  private idle(): void {
    if (this.pending.size === 0) this.thread.unref();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  terminate(): void {
    this.failure ??= new Error('controller shard worker terminated');
    void this.thread.terminate();
  }
}

export class ShardPool {
  private readonly threads: ShardThread[] = [];

  /** `backend`: the workers' tfjs backend, by default the main thread's when a thread starts. */
  constructor(
    private readonly shape: LstmShape,
    private readonly backend?: string,
  ) {}

  private thread(index: number): ShardThread {
    while (this.threads.length <= index)
      this.threads.push(new ShardThread({ shape: this.shape, backend: this.backend ?? tf.getBackend() }));
    return this.threads[index]!;
  }

  /** Draws `count` sequences on worker `index`, seeded by (seed, shard). */
  async sample(index: number, weights: Record<string, Float32Array>, count: number, seed: number, shard: number): Promise<SampledShard> {
    const reply = await this.thread(index).request({ kind: 'sample', weights, count, seed, shard });
    if (reply.kind !== 'sample') throw new Error(`controller shard worker answered ${reply.kind} to sample`);
    return reply.result;
  }

  /** `sampledTrace`: the shard is the one worker `index` drew last, under the same weights. */
  async gradients(
    index: number,
    weights: Record<string, Float32Array>,
    batch: ShardBatch,
    settings: ObjectiveSettings,
    sampledTrace = false,
  ): Promise<ShardGradients<Float32Array>> {
    const reply = await this.thread(index).request({ kind: 'gradients', weights, batch, settings, sampledTrace });
    if (reply.kind !== 'gradients') throw new Error(`controller shard worker answered ${reply.kind} to gradients`);
    return reply.result;
  }

  dispose(): void {
    for (const thread of this.threads) thread.terminate();
    this.threads.length = 0;
  }
}
