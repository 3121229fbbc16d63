/**
 * The training pool's worker processes. A Ctrl-C reaches the whole process group, workers
 * included: a worker that dies while idle must not crash the parent with an uncaught `write EPIPE`
 * when the next job is sent, and one that dies while starting must not fail its job before the
 * parent's own handler has stopped the run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import test from 'ava';
import { trainConfig } from '../src/trainer/config.js';
import { TrainingPool } from '../src/trainer/training-pool.js';
import { tinySpec } from './helpers/tiny.js';

const config = trainConfig({ epochs: 1, trainSamples: 64, validationSamples: 64, batchSize: 32, augment: false });

/**
 * Blocks (without yielding to the event loop, so the parent cannot see the exit yet) until pid is
 * dead and its files are closed: a zombie whose threads have all exited.
 */
function waitDeadSync(pid: number): void {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const zombie = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
      if (zombie && readdirSync(`/proc/${pid}/task`).length <= 1) return;
    } catch {
      return;
    }
  }
  throw new Error(`worker ${pid} did not die`);
}

test('a job sent to a worker that died while idle is retried on a fresh worker, without an EPIPE crash', async (t) => {
  const pool = new TrainingPool({ dataset: 'fashion-mnist', resolution: 28, config, parallel: 1, backend: 'auto' });
  try {
    const first = await pool.evaluate(tinySpec());
    t.is(first.error, null);
    const worker = (pool as unknown as { workers: { process: { pid: number } }[] }).workers[0]!;
    process.kill(worker.process.pid, 'SIGKILL');
    waitDeadSync(worker.process.pid);
    const second = await pool.evaluate(tinySpec());
    t.is(second.error, null, 'the retried job trained on a fresh worker');
    t.true(second.accuracy > 0);
  } finally {
    await pool.close();
  }
});

test('a worker ended by SIGINT before it was ready does not fail its job: the job waits, then retries on a fresh worker', async (t) => {
  const pool = new TrainingPool({ dataset: 'fashion-mnist', resolution: 28, config, parallel: 1, backend: 'auto' });
  try {
    const evaluation = pool.evaluate(tinySpec());
    const worker = (pool as unknown as { workers: { process: { pid: number } }[] }).workers[0]!;
    process.kill(worker.process.pid, 'SIGINT');
    const result = await evaluation;
    t.is(result.error, null, 'the retried job trained on a fresh worker');
  } finally {
    await pool.close();
  }
});
