/**
 * Ctrl-C and SIGTERM during a training run: the run stops within seconds, keeps a checkpoint at
 * the step it reached (not only at an epoch end), exits 130 / 143, and a resume finishes with the
 * same number of steps as an uninterrupted run. A search stops without waiting for the child in
 * training and keeps its finished trials.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { NAS, nas } from './helpers/cli.js';
import { tinySearchFiles } from './helpers/search.js';

const TRAIN_SAMPLES = 2048;
const BATCH = 32;
const TOTAL_STEPS = TRAIN_SAMPLES / BATCH;

function trainArgs(out: string): string[] {
  return ['train', '--arch', 'mobilenetv3-small-0.35', '--resolution', '32', '--epochs', '1'].concat([
    '--train-samples',
    String(TRAIN_SAMPLES),
    '--validation-samples',
    '256',
    '--batch-size',
    String(BATCH),
    '--out',
    out,
    '--seed',
    '3',
  ]);
}

/** Starts a training, sends `signal` once it has trained a few steps; resolves with the exit code and the stop latency. */
function interruptTraining(out: string, signal: NodeJS.Signals): Promise<{ code: number | null; stopSeconds: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NAS, ...trainArgs(out)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sentAt = 0;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sentAt && /"step":\d+/.test(stderr)) {
        sentAt = -1;
        // A few steps in, at a point that varies with the machine's speed.
        setTimeout(() => {
          sentAt = performance.now();
          child.kill(signal);
        }, 700);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stopSeconds: (performance.now() - sentAt) / 1000, stderr }));
  });
}

function savedState(out: string): { globalStep: number; stepInEpoch: number; epoch: number } {
  return JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'));
}

for (const [signal, exitCode] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test.serial(`${signal} mid-epoch: stops within 10 s, keeps the current step, exits ${exitCode}; --resume loses no step`, async (t) => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'nas-interrupt-')), 'run');
    const stopped = await interruptTraining(out, signal);
    t.is(stopped.code, exitCode, stopped.stderr);
    t.true(stopped.stopSeconds < 10, `stopped ${stopped.stopSeconds.toFixed(2)} s after ${signal}`);
    t.log(`${signal}: stopped ${stopped.stopSeconds.toFixed(2)} s after the signal`);
    t.regex(stopped.stderr, /progress saved in .*continue with --resume/);
    const kept = savedState(out);
    t.is(kept.epoch, 0, 'interrupted inside the first epoch');
    t.true(kept.stepInEpoch > 0 && kept.stepInEpoch < TOTAL_STEPS, `kept step ${kept.stepInEpoch} of ${TOTAL_STEPS}`);
    const resumed = await nas(...trainArgs(out), '--resume', '--json');
    t.is(resumed.code, 0, resumed.stderr);
    t.is(savedState(out).globalStep, TOTAL_STEPS, 'the resumed run trains exactly the steps that were left');
  });
}

test.serial(
  'SIGINT during a search: stops within 2 s without waiting for the child in training; --resume completes the budget',
  async (t) => {
    // Children long enough (many epochs of 64 images) that waiting for one would show.
    const proxy = {
      dataset: 'fashion-mnist',
      resolution: 16,
      train: { epochs: 60, trainSamples: 64, validationSamples: 32, batchSize: 16 },
    };
    const { dir, experimentFile } = tinySearchFiles({ budget: 2, batchSize: 2, parallel: 1, proxy });
    const runDir = path.join(dir, 'run');
    const child = spawn(process.execPath, [NAS, 'search', '--experiment', experimentFile, '--out', runDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    while (!existsSync(path.join(runDir, 'run.json'))) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500));
    const sentAt = performance.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    const stopSeconds = (performance.now() - sentAt) / 1000;
    t.log(`search: stopped ${stopSeconds.toFixed(2)} s after SIGINT`);
    t.is(code, 130, stderr);
    // The issue allows 10 s; 2 s fails a search that waits for its child (about 4 s of training left here).
    t.true(stopSeconds < 2, `stopped ${stopSeconds.toFixed(2)} s after SIGINT`);
    t.regex(stderr, /continue with nas search --resume/);
    const resumed = await nas('search', '--resume', runDir, '--json');
    t.is(resumed.code, 0, resumed.stderr);
    t.is(JSON.parse(resumed.stdout.trim().split('\n').pop()!).trials, 2);
    const resumeSeconds = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8')).wallSeconds as number;
    t.log(`the resumed search took ${resumeSeconds.toFixed(1)} s for its 2 children`);
  },
);
