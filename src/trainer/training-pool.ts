/**
 * Training in worker processes: each request trains a spec briefly (optionally starting from a
 * parent's weights, inherited by layer ids) and reports validation top-1 (never test), at most
 * `parallel` at once; every worker loads the dataset once. The search uses it as its proxy
 * evaluator, NetAdapt for its short fine-tunes.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DivergedError, InterruptedError, NasError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ArchSpec } from '../search-space/archspec.js';
import type { BackendName } from './backend-names.js';
import { loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import type { TrainingData } from './data/index.js';
import { inheritWeights } from './inherit.js';
import { train } from './train.js';

export interface Evaluation {
  accuracy: number;
  seconds: number;
  imagesPerSec: number;
  /** Why the child could not be trained (its accuracy then counts as 0). */
  error: string | null;
}

export interface EvaluateOptions {
  /** Start from these weights: a trained checkpoint of `spec`, inherited by layer ids (NetAdapt). */
  inheritFrom?: { spec: ArchSpec; checkpoint: string };
  /** Keep the trained child's checkpoint in this run directory. */
  outDir?: string;
  /** In-process evaluations only: stop the training within a step (InterruptedError). */
  signal?: AbortSignal;
}

/** What gives a child architecture its accuracy (the search's evaluator interface). */
export interface Evaluator {
  evaluate(spec: ArchSpec, options?: EvaluateOptions): Promise<Evaluation>;
  close(): Promise<void>;
}

export type WorkerRequest =
  | { type: 'init'; dataset: string; resolution: number; backend: BackendName | 'auto' }
  | ({ type: 'evaluate'; id: number; spec: ArchSpec; config: TrainConfig } & Omit<EvaluateOptions, 'signal'>);

export type WorkerReply =
  | { type: 'ready'; backend: string }
  | { type: 'result'; id: number; evaluation: Evaluation }
  | { type: 'failed'; message: string };

/**
 * One evaluation: inherit the parent's weights if asked, train, report validation top-1. A child
 * that cannot be trained (diverged, bad shape) gets accuracy 0 and the reason.
 */
export async function trainForEvaluation(
  dataset: TrainingData,
  spec: ArchSpec,
  config: TrainConfig,
  options: EvaluateOptions,
): Promise<Evaluation> {
  const started = performance.now();
  try {
    let initialWeights: ReturnType<typeof inheritWeights>['weights'] | undefined;
    if (options.inheritFrom) {
      const parent = loadCheckpoint(options.inheritFrom.checkpoint, (data) => data);
      initialWeights = inheritWeights(options.inheritFrom.spec, parent.weights, spec).weights;
    }
    const { outDir, signal } = options;
    const result = await train({ spec, dataset, config, evaluateTest: false, initialWeights, outDir, signal });
    return { accuracy: result.valTop1, seconds: (performance.now() - started) / 1000, imagesPerSec: result.imagesPerSec, error: null };
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    const message = err instanceof DivergedError ? `diverged: ${err.message}` : (err as Error).message;
    return { accuracy: 0, seconds: (performance.now() - started) / 1000, imagesPerSec: 0, error: message };
  }
}

/** The same evaluations in this process, one at a time (tests, machines with one core). */
export class InProcessTrainer implements Evaluator {
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataset: TrainingData,
    private readonly config: TrainConfig,
  ) {}

  evaluate(spec: ArchSpec, options: EvaluateOptions = {}): Promise<Evaluation> {
    const next = this.last.then(() => {
      // A queued evaluation whose caller gave up starts no training (nor writes into its outDir).
      if (options.signal?.aborted) throw new InterruptedError('evaluation not started: interrupted');
      return trainForEvaluation(this.dataset, spec, this.config, options);
    });
    this.last = next.catch(() => undefined);
    return next;
  }

  /** Waits for the evaluations already asked for (an aborted one stops at its next step). */
  async close(): Promise<void> {
    await this.last;
  }
}

interface Job {
  id: number;
  spec: ArchSpec;
  options: EvaluateOptions;
  resolve: (e: Evaluation) => void;
  reject: (err: Error) => void;
  attempts: number;
}

interface Worker {
  process: ChildProcess;
  ready: Promise<void>;
  job: Job | null;
}

/**
 * Sends a request. A worker killed by the user's Ctrl-C (it shares the process group) fails the send
 * with EPIPE; the callback takes that error (without one it would be thrown as an 'error' event) and
 * the worker's 'exit' handler settles its job.
 */
function sendIgnoringGone(child: ChildProcess, request: WorkerRequest): void {
  if (!child.connected) return;
  child.send(request, () => {});
}

/** How long a job whose worker a SIGINT, SIGTERM or SIGHUP ended waits before it is retried. */
const INTERRUPT_GRACE_MS = 2000;

const WORKER_SCRIPT = fileURLToPath(new URL('./training-worker.js', import.meta.url));

export interface TrainingPoolOptions {
  dataset: string;
  resolution: number;
  config: TrainConfig;
  parallel: number;
  backend?: BackendName | 'auto';
  log?: Logger;
}

/**
 * The worker's Node flags: the parent's, without source maps. With them, Node parses the source
 * maps of every module a worker loads, tfjs' several megabytes too: 0.3 s more per worker.
 */
const WORKER_NODE_FLAGS = process.execArgv.filter((flag) => flag !== '--enable-source-maps');

export class TrainingPool implements Evaluator {
  private readonly workers: Worker[] = [];
  private readonly queue: Job[] = [];
  /** Retries waiting out INTERRUPT_GRACE_MS (see workerExited). */
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly options: TrainingPoolOptions) {}

  evaluate(spec: ArchSpec, options: EvaluateOptions = {}): Promise<Evaluation> {
    if (this.closed) return Promise.reject(new NasError('the evaluator is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, spec, options, resolve, reject, attempts: 0 });
      this.dispatch();
    });
  }

  private spawn(): Worker {
    const child = fork(WORKER_SCRIPT, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: WORKER_NODE_FLAGS });
    let markReady!: () => void;
    let failReady!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    const worker: Worker = { process: child, ready, job: null };
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
    child.on('exit', (code, signal) => this.workerExited(worker, code, signal, failReady));
    sendIgnoringGone(child, {
      type: 'init',
      dataset: this.options.dataset,
      resolution: this.options.resolution,
      backend: this.options.backend ?? 'auto',
    });
    this.workers.push(worker);
    return worker;
  }

  /**
   * Settles what a worker that ended leaves behind: its job is retried once on a fresh worker (the
   * machine may have been short of memory), then reported as failed. A worker ended by SIGINT,
   * SIGTERM or SIGHUP was most likely hit by the user's Ctrl-C or closed terminal, which reach the whole process group: the
   * job then waits a moment, so that the parent's own handler stops the run (and closes the pool)
   * instead of the job failing first and the run ending with an error.
   */
  private workerExited(worker: Worker, code: number | null, signal: NodeJS.Signals | null, failReady: (err: Error) => void): void {
    const index = this.workers.indexOf(worker);
    if (index >= 0) this.workers.splice(index, 1);
    const job = worker.job;
    // Cleared before failReady, so that the dispatcher's handler of a failed start leaves the job to this one.
    worker.job = null;
    const reason = signal ?? `code ${code}`;
    failReady(new NasError(`an evaluation worker exited (${reason}) before it was ready`));
    if (!job || this.closed) return;
    const settle = () => {
      if (this.closed) return;
      if (job.attempts++ < 1) this.queue.unshift(job);
      else job.resolve({ accuracy: 0, seconds: 0, imagesPerSec: 0, error: `the evaluation process died (${reason})` });
      this.dispatch();
    };
    if (signal !== 'SIGINT' && signal !== 'SIGTERM' && signal !== 'SIGHUP') {
      settle();
      return;
    }
    // Not unref'd: a parent whose only worker was killed must stay alive for the retry; close() clears it.
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      settle();
    }, INTERRUPT_GRACE_MS);
    this.graceTimers.add(timer);
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
        () =>
          sendIgnoringGone(w.process, {
            type: 'evaluate',
            id: job.id,
            spec: job.spec,
            config: this.options.config,
            inheritFrom: job.options.inheritFrom,
            outDir: job.options.outDir,
          }),
        (err: Error) => {
          // A worker that exited has had its job settled by workerExited; this is a failed start.
          if (w.job !== job) return;
          w.job = null;
          job.reject(err);
        },
      );
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
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
