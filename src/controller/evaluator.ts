/**
 * Evaluators give a child architecture its accuracy. The proxy-training evaluator trains each
 * child briefly with the trainer and reports validation top-1 (never test), in worker processes,
 * at most `parallel` at once; every worker loads the dataset once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NasError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ArchSpec } from '../search-space/archspec.js';
import type { BackendName } from '../trainer/backend.js';
import type { TrainConfig } from '../trainer/config.js';

export interface Evaluation {
  accuracy: number;
  seconds: number;
  imagesPerSec: number;
  /** Why the child could not be trained (its accuracy then counts as 0). */
  error: string | null;
}

export interface Evaluator {
  evaluate(spec: ArchSpec): Promise<Evaluation>;
  close(): Promise<void>;
}

export type WorkerRequest =
  | { type: 'init'; dataset: string; resolution: number; backend: BackendName | 'auto' }
  | { type: 'evaluate'; id: number; spec: ArchSpec; config: TrainConfig };

export type WorkerReply =
  | { type: 'ready'; backend: string }
  | { type: 'result'; id: number; evaluation: Evaluation }
  | { type: 'failed'; message: string };

interface Job {
  id: number;
  spec: ArchSpec;
  resolve: (e: Evaluation) => void;
  reject: (err: Error) => void;
  attempts: number;
}

interface Worker {
  process: ChildProcess;
  ready: Promise<void>;
  job: Job | null;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./eval-worker.js', import.meta.url));

export interface ProxyEvaluatorOptions {
  dataset: string;
  resolution: number;
  config: TrainConfig;
  parallel: number;
  backend?: BackendName | 'auto';
  log?: Logger;
}

export class ProxyTrainingEvaluator implements Evaluator {
  private readonly workers: Worker[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  constructor(private readonly options: ProxyEvaluatorOptions) {}

  evaluate(spec: ArchSpec): Promise<Evaluation> {
    if (this.closed) return Promise.reject(new NasError('the evaluator is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, spec, resolve, reject, attempts: 0 });
      this.dispatch();
    });
  }

  private spawn(): Worker {
    const child = fork(WORKER_SCRIPT, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: ['--enable-source-maps'] });
    let markReady!: () => void;
    let failReady!: (err: Error) => void;
    const worker: Worker = { process: child, ready: new Promise<void>((res, rej) => ((markReady = res), (failReady = rej))), job: null };
    child.on('message', (reply: WorkerReply) => {
      if (reply.type === 'ready') markReady();
      else if (reply.type === 'failed') failReady(new NasError(reply.message));
      else if (reply.type === 'result' && worker.job?.id === reply.id) {
        const job = worker.job;
        worker.job = null;
        job.resolve(reply.evaluation);
        this.dispatch();
      }
    });
    child.on('exit', (code, signal) => {
      const index = this.workers.indexOf(worker);
      if (index >= 0) this.workers.splice(index, 1);
      failReady(new NasError(`an evaluation worker exited (${signal ?? `code ${code}`}) before it was ready`));
      const job = worker.job;
      worker.job = null;
      if (job && !this.closed) {
        // Retry once on a fresh worker (the machine may have been short of memory); then give up.
        if (job.attempts++ < 1) this.queue.unshift(job);
        else job.resolve({ accuracy: 0, seconds: 0, imagesPerSec: 0, error: `the evaluation process died (${signal ?? `code ${code}`})` });
        this.dispatch();
      }
    });
    child.send({ type: 'init', dataset: this.options.dataset, resolution: this.options.resolution, backend: this.options.backend ?? 'auto' } satisfies WorkerRequest);
    this.workers.push(worker);
    return worker;
  }

  private dispatch(): void {
    while (this.queue.length) {
      let worker = this.workers.find((w) => w.job === null);
      if (!worker && this.workers.length < this.options.parallel) worker = this.spawn();
      if (!worker) return;
      const job = this.queue.shift()!;
      worker.job = job;
      const w = worker;
      w.ready.then(
        () => w.process.send({ type: 'evaluate', id: job.id, spec: job.spec, config: this.options.config } satisfies WorkerRequest),
        (err: Error) => {
          w.job = null;
          job.reject(err);
        },
      );
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new NasError('the evaluator was closed'));
    await Promise.all(
      this.workers.splice(0).map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.process.exitCode !== null) return resolve();
            w.process.once('exit', () => resolve());
            w.process.kill();
          }),
      ),
    );
  }
}
