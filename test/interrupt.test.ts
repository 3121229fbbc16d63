/**
 * Ctrl-C, SIGTERM and SIGHUP at random points of short training, search and NetAdapt runs (issue 16):
 * 20 interrupts across the three, at delays drawn from a seeded generator (the seed is logged;
 * INTERRUPT_SEED=<seed> replays one). Each interrupted command stops within 10 s, exits 130 after
 * SIGINT (sent to the process group, as Ctrl-C on a terminal is), 129 after SIGHUP (to the group,
 * as a closed terminal sends it) or 143 after SIGTERM (sent to the process, as `kill` does), leaves no worker process behind, says how to continue and keeps
 * what it finished; the run is then resumed, interrupted again, and so on, and the last resume
 * ends with as many completed steps / trials as an uninterrupted run (0 lost). A search and
 * NetAdapt also stop without waiting for the child / the proposals in training.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { derive, type Rng } from '../src/common/rng.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import type { Trial } from '../src/controller/store.js';
import { NAS, nas, nasTrainTiny } from './helpers/cli.js';
import { tinyImageFolder } from './helpers/folder.js';
import { tinySearchFiles } from './helpers/search.js';
import { specTable } from './helpers/tables.js';
import { tinySpec } from './helpers/tiny.js';

const SEED = process.env.INTERRUPT_SEED ?? String(Math.floor(Math.random() * 1_000_000));
const STOP_LIMIT_SECONDS = 10;
/** Runs of one chain that may finish before their signal (each then starts a fresh run). */
const MAX_RUNS = 10;
const EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
type Signal = keyof typeof EXIT_CODES;

/** Every signal sent, for the summary the last test logs. */
const stops: { kind: string; signal: Signal; stopSeconds: number; code: number | null }[] = [];

const tmp = (name: string) => mkdtempSync(path.join(tmpdir(), `nas-interrupt-${name}-`));

interface Stopped {
  code: number | null;
  /** The signal that ended the process, when one did. */
  exitSignal: NodeJS.Signals | null;
  /** Whether the signal was sent (the command may finish before its time comes). */
  signalled: boolean;
  stopSeconds: number;
  stderr: string;
  /** Seconds until the command's process group (its workers) was gone after it exited. */
  orphanSeconds: number;
  /** The command ran past HANG_SECONDS and was killed. */
  hung: boolean;
}

/** A command still running this long is killed and reported (well inside ava's 5-minute timeout). */
const HANG_SECONDS = 90;

/**
 * Runs `nas args` in a process group of its own; `delay` seconds after `ready(stderr)` holds
 * (checked as stderr arrives and every 100 ms), sends `signal`: SIGINT and SIGHUP to the whole group,
 * SIGTERM to the command's process.
 */
function interruptWhen(args: string[], ready: (stderr: string) => boolean, delay: number, signal: Signal): Promise<Stopped> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NAS, ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let armed = false;
    let sentAt = 0;
    let exited = false;
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, HANG_SECONDS * 1000);
    const arm = () => {
      if (armed || exited || !ready(stderr)) return;
      armed = true;
      clearInterval(poll);
      setTimeout(() => {
        if (exited) return;
        sentAt = performance.now();
        if (signal === 'SIGTERM') child.kill(signal);
        else process.kill(-child.pid!, signal);
      }, delay * 1000);
    };
    const poll = setInterval(arm, 100);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      arm();
    });
    child.on('error', reject);
    child.on('exit', async (code, exitSignal) => {
      exited = true;
      clearTimeout(guard);
      clearInterval(poll);
      const exitedAt = performance.now();
      while (groupAlive(child.pid!) && performance.now() - exitedAt < 10_000) await new Promise((r) => setTimeout(r, 20));
      resolve({
        code,
        exitSignal,
        signalled: sentAt > 0,
        stopSeconds: sentAt ? (exitedAt - sentAt) / 1000 : 0,
        stderr,
        orphanSeconds: (performance.now() - exitedAt) / 1000,
        hung,
      });
    });
  });
}

/** Whether a process of the group still runs (a zombie counts as gone: init reaps orphans at its own pace). */
function groupAlive(pgid: number): boolean {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

/** How a chain of interrupts drives one kind of run. */
interface Chain {
  kind: string;
  interrupts: number;
  /** The command has begun its work (its signal handler is installed) once its stderr matches this. */
  started: RegExp;
  /**
   * Where the signals come: the i-th aims at a random, rising point of the run (a count of
   * completed units). `polled`: the signal waits until the run has kept that many (read from its
   * files), then up to `windowSeconds` more. `timed` (a training run shows its steps only at
   * checkpoints): it comes after the time the remaining steps take at the rate measured on the
   * earlier interrupts (the first: up to `windowSeconds` after the start).
   */
  progress: 'polled' | 'timed';
  windowSeconds: number;
  args(dir: string, resume: boolean): string[];
  canResume(dir: string): boolean;
  /** What the run has kept: completed steps or trials. */
  kept(dir: string): number;
  /** What an uninterrupted run completes. */
  total: number;
  /** What an interrupted command says about continuing. */
  resumeHint: RegExp;
  /** What the command logs when its work is done. */
  finished: RegExp;
  /** Checks after each interrupt (beyond what runChain checks). */
  afterInterrupt?(t: ExecutionContext, dir: string, stopped: Stopped, keptBefore: number): void;
  /** Checks of a finished run (beyond the count). */
  afterFinish?(t: ExecutionContext, dir: string): void;
}

/**
 * Starts the run, interrupts it at a random point, resumes it, and so on until `chain.interrupts`
 * interrupts have stopped it; a run that finishes before its signal is checked and replaced by a
 * fresh one. Finally resumes the run to its end and checks that nothing was lost.
 */
async function runChain(t: ExecutionContext, chain: Chain, rng: Rng, signalOf: (i: number) => Signal): Promise<void> {
  let dir = path.join(tmp(chain.kind), 'run');
  let interrupts = 0;
  let runs = 1;
  // Short of the end, so that a signal still finds work to stop.
  const targets = Array.from({ length: chain.interrupts }, () => Math.floor(rng() * (chain.total - 1))).sort((a, b) => a - b);
  // Units done per second after the start, on the timed interrupts so far.
  const timed = { units: 0, seconds: 0 };
  while (interrupts < chain.interrupts) {
    const signal = signalOf(interrupts);
    const target = targets[interrupts]!;
    const keptBefore = chain.canResume(dir) ? chain.kept(dir) : 0;
    const polled = chain.progress === 'polled';
    const rate = timed.seconds > 0.3 ? timed.units / timed.seconds : null;
    // Each run that finished before its signal halves the delays after it (a slower machine than the rate suggests).
    const drawn = polled || rate === null ? rng() * chain.windowSeconds : Math.max(0, target - keptBefore) / rate;
    const delay = drawn * 0.5 ** (runs - 1);
    const runDir = dir;
    const ready = (stderr: string) => chain.started.test(stderr) && (!polled || chain.kept(runDir) >= target);
    const stopped = await interruptWhen(chain.args(dir, chain.canResume(dir)), ready, delay, signal);
    const point = polled
      ? `once ${target} of ${chain.total} were kept, then ${delay.toFixed(2)} s`
      : `${delay.toFixed(2)} s after the start${rate === null ? '' : `, aiming at ${target} of ${chain.total}`}`;
    const label = `${chain.kind} interrupt ${interrupts + 1} (${signal} ${point})`;
    if (stopped.hung) {
      t.fail(
        `${label}: still running after ${HANG_SECONDS} s (signal sent: ${stopped.signalled}); its stderr:\n${stopped.stderr.slice(-3000)}`,
      );
      return;
    }
    t.true(stopped.orphanSeconds < 5, `${label}: its workers outlived it by ${stopped.orphanSeconds.toFixed(1)} s`);
    if (stopped.signalled) stops.push({ kind: chain.kind, signal, stopSeconds: stopped.stopSeconds, code: stopped.code });
    // A signal in the last milliseconds of a finished command's exit (its handlers already gone) ends it.
    const lateSignal = stopped.exitSignal === signal && chain.finished.test(stopped.stderr);
    if (stopped.code === 0 || lateSignal) {
      // Finished before (or while) the signal came: a complete run, then a fresh one.
      t.log(`${label}: the run finished first (${lateSignal ? `ended by the late ${signal}` : 'exit 0'}); starting a fresh one`);
      t.is(chain.kept(dir), chain.total, `${label}: the run finished complete`);
      chain.afterFinish?.(t, dir);
      dir = path.join(tmp(chain.kind), 'run');
      if (++runs > MAX_RUNS) return t.fail(`${chain.kind}: ${MAX_RUNS} runs finished before their signal came`);
      continue;
    }
    interrupts++;
    t.true(stopped.signalled, `${label}: exited ${stopped.code} before the signal:\n${stopped.stderr}`);
    t.is(stopped.code, EXIT_CODES[signal], `${label}:\n${stopped.stderr}`);
    t.true(stopped.stopSeconds < STOP_LIMIT_SECONDS, `${label}: stopped ${stopped.stopSeconds.toFixed(2)} s after the signal`);
    if (!chain.canResume(dir)) {
      t.log(`${label}: stopped before the run directory was written; starting again`);
      dir = path.join(tmp(chain.kind), 'run');
      continue;
    }
    t.regex(stopped.stderr, chain.resumeHint, label);
    const kept = chain.kept(dir);
    t.true(kept >= keptBefore, `${label}: kept ${kept}, had ${keptBefore}`);
    // The first unit comes before the start is seen.
    timed.units += Math.max(0, kept - keptBefore - 1);
    timed.seconds += delay;
    chain.afterInterrupt?.(t, dir, stopped, keptBefore);
    t.log(`${label}: stopped in ${stopped.stopSeconds.toFixed(2)} s, exit ${stopped.code}, kept ${kept} of ${chain.total}`);
  }
  const last = await nas(...chain.args(dir, chain.canResume(dir)));
  t.is(last.code, 0, last.stderr);
  t.is(chain.kept(dir), chain.total, `${chain.kind}: the resumed run completes ${chain.total}, as an uninterrupted run`);
  chain.afterFinish?.(t, dir);
  t.log(`${chain.kind}: ${interrupts} interrupts over ${runs} run(s); the last resume completed ${chain.kept(dir)} of ${chain.total}`);
}

const rngFor = (kind: string) => derive(`interrupts-${SEED}`, kind);

// Ctrl-C, a closed terminal (SIGHUP to the group) and SIGTERM in turn.
const signalOf = (i: number): Signal => (['SIGINT', 'SIGHUP', 'SIGTERM'] as const)[i % 3]!;

// --- nas train: mobilenetv3-small-0.35 at 32 px, 3 epochs of 32 steps ---

const TRAIN = { samples: 1024, batch: 32, epochs: 3 };
const STEPS_PER_EPOCH = TRAIN.samples / TRAIN.batch;

function trainArgs(out: string, resume: boolean): string[] {
  return [
    ...['train', '--arch', 'mobilenetv3-small-0.35', '--resolution', '32', '--epochs', String(TRAIN.epochs)],
    ...[
      '--train-samples',
      String(TRAIN.samples),
      '--validation-samples',
      '256',
      '--test-samples',
      '256',
      '--batch-size',
      String(TRAIN.batch),
    ],
    ...['--seed', '3', '--out', out, ...(resume ? ['--resume'] : [])],
  ];
}

interface TrainState {
  globalStep: number;
  stepInEpoch: number;
  epoch: number;
}

const trainState = (out: string): TrainState => JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'));

test.serial('nas train: 7 interrupts at random steps stop within 10 s, keep the current step; the resumes lose none', async (t) => {
  t.log(`interrupt points drawn with seed ${SEED} (INTERRUPT_SEED=${SEED} replays them)`);
  const midEpoch: number[] = [];
  await runChain(
    t,
    {
      kind: 'train',
      interrupts: 7,
      started: /"progress":/,
      progress: 'timed',
      windowSeconds: 1.5,
      args: trainArgs,
      canResume: (out) => existsSync(path.join(out, 'checkpoint', 'state.json')),
      kept: (out) => (existsSync(path.join(out, 'checkpoint', 'state.json')) ? trainState(out).globalStep : 0),
      total: TRAIN.epochs * STEPS_PER_EPOCH,
      resumeHint: /progress saved in .*continue with nas train --out .* --resume/,
      finished: /"msg":"trained"/,
      afterInterrupt: (t, out, stopped, keptBefore) => {
        // The process's first step is the one after the step its resume started from.
        const first = /"progress":[\d.]+,"epoch":(\d+),"step":(\d+)/.exec(stopped.stderr);
        t.truthy(first, 'the process trained a step before the signal');
        t.is((Number(first![1]) - 1) * STEPS_PER_EPOCH + Number(first![2]), keptBefore + 1, 'resumed at the next step');
        const state = trainState(out);
        if (state.stepInEpoch > 0) midEpoch.push(state.globalStep);
      },
    },
    rngFor('train'),
    signalOf,
  );
  t.true(midEpoch.length > 0, 'some interrupts kept a step inside an epoch, not only at its end');
});

// --- nas search: the tiny space, children of a second or so ---

test.serial('nas search: 7 interrupts at random points stop within 10 s, keep finished trials; the resumes lose none', async (t) => {
  t.log(`interrupt points drawn with seed ${SEED}`);
  const proxy = { dataset: 'fashion-mnist', resolution: 16, train: { epochs: 2, trainSamples: 128, validationSamples: 32, batchSize: 16 } };
  const budget = 12;
  const { experimentFile } = tinySearchFiles({ budget, batchSize: 2, parallel: 2, proxy });
  const trials = (dir: string): Trial[] => {
    if (!existsSync(path.join(dir, 'trials.sqlite'))) return [];
    const store = new SearchRunDir(dir).trialStore();
    const all = store.all();
    store.close();
    return all;
  };
  const kept = new Map<string, Trial[][]>();
  await runChain(
    t,
    {
      kind: 'search',
      interrupts: 7,
      started: /"msg":"search"/,
      progress: 'polled',
      windowSeconds: 1,
      args: (dir, resume) => (resume ? ['search', '--resume', dir] : ['search', '--experiment', experimentFile, '--out', dir]),
      canResume: (dir) => existsSync(path.join(dir, 'run.json')),
      kept: (dir) => trials(dir).length,
      total: budget,
      resumeHint: /continue with nas search --resume/,
      finished: /"msg":"search finished"/,
      afterInterrupt: (_t, dir) => kept.set(dir, [...(kept.get(dir) ?? []), trials(dir)]),
      afterFinish: (t, dir) => {
        const final = trials(dir);
        for (const snapshot of kept.get(dir) ?? [])
          for (const trial of snapshot) t.deepEqual(final[trial.trial], trial, `trial ${trial.trial} kept as it was`);
      },
    },
    rngFor('search'),
    signalOf,
  );
});

// --- nas netadapt: a tiny seed on a tiny image folder, with a final training ---

test.serial('nas netadapt: 6 interrupts at random points stop within 10 s; the resumes end as the uninterrupted run does', async (t) => {
  t.log(`interrupt points drawn with seed ${SEED}`);
  const dir = tmp('netadapt-seed');
  const dataset = `folder:${tinyImageFolder({ perClass: 200 })}`;
  const seed = tinySpec({ resolution: 16, channels: 1, classes: 2, name: 'seed' });
  const specFile = path.join(dir, 'seed.json');
  writeFileSync(specFile, JSON.stringify(seed));
  const tableFile = path.join(dir, 'table.json');
  writeFileSync(tableFile, JSON.stringify(specTable(seed)));
  const seedRun = path.join(dir, 'seed-run');
  const trained = await nas('train', '--arch', specFile, '--dataset', dataset, '--epochs', '1', '--batch-size', '16', '--out', seedRun);
  t.is(trained.code, 0, trained.stderr);
  const args = (out: string, resume: boolean) => [
    ...['netadapt', '--arch', specFile, '--checkpoint', seedRun, '--table', tableFile, '--dataset', dataset],
    ...['--latency-resolution', '16', '--latency-classes', '2', '--target-ratio', '0.5', '--delta-ratio', '0.05'],
    ...['--finetune-steps', '8', '--validation-samples', '16', '--parallel', '2', '--final-epochs', '10'],
    ...['--out', out, ...(resume ? ['--resume'] : [])],
  ];
  const steps = (out: string) => JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8')).steps.length as number;
  const finalState = (out: string): TrainState | null => {
    const state = path.join(out, 'final', 'checkpoint', 'state.json');
    return existsSync(state) ? JSON.parse(readFileSync(state, 'utf8')) : null;
  };
  const finalSteps = (out: string) => finalState(out)?.globalStep ?? 0;
  const summary = (out: string) => JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  // The uninterrupted run: its NetAdapt steps and the final training's steps.
  const reference = path.join(dir, 'reference');
  const uninterrupted = await nas(...args(reference, false));
  t.is(uninterrupted.code, 0, uninterrupted.stderr);
  t.log(`uninterrupted: ${steps(reference)} NetAdapt steps, final training ${finalSteps(reference)} steps`);
  await runChain(
    t,
    {
      kind: 'netadapt',
      interrupts: 6,
      started: /"msg":"netadapt"\}/,
      progress: 'polled',
      windowSeconds: 0.5,
      args,
      canResume: (out) => existsSync(path.join(out, 'history.json')),
      // NetAdapt steps, then the final training's epochs (its checkpoints between epoch ends are not counted).
      kept: (out) => (existsSync(path.join(out, 'history.json')) ? steps(out) + (finalState(out)?.epoch ?? 0) : 0),
      total: steps(reference) + finalState(reference)!.epoch,
      resumeHint: /continue with nas netadapt --out \S+ --resume/,
      finished: /"msg":"netadapt finished"/,
      afterFinish: (t, out) => {
        t.is(summary(out).steps, summary(reference).steps);
        t.is(finalSteps(out), finalSteps(reference));
        t.is(summary(out).finalLatencyMs, summary(reference).finalLatencyMs);
      },
    },
    rngFor('netadapt'),
    signalOf,
  );
});

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
    const startedAt = performance.now();
    while (!existsSync(path.join(runDir, 'run.json'))) {
      if (child.exitCode !== null || performance.now() - startedAt > HANG_SECONDS * 1000) {
        child.kill('SIGKILL');
        return t.fail(`the search wrote no run.json (exit ${child.exitCode}):\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
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
    const resumeSeconds = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8')).sessionWallSeconds as number;
    t.log(`the resumed search took ${resumeSeconds.toFixed(1)} s for its 2 children`);
  },
);

test.serial('SIGINT during NetAdapt: stops within 2 s without waiting for the proposals in fine-tuning', async (t) => {
  // Fine-tunes of 600 steps on Fashion-MNIST: many seconds each, so waiting for one would show.
  const dir = tmp('netadapt-long');
  const seed = tinySpec({ resolution: 28, channels: 1, name: 'seed' });
  const specFile = path.join(dir, 'seed.json');
  writeFileSync(specFile, JSON.stringify(seed));
  const tableFile = path.join(dir, 'table.json');
  writeFileSync(tableFile, JSON.stringify(specTable(seed)));
  const seedRun = path.join(dir, 'seed-run');
  const trained = await nasTrainTiny(specFile, seedRun, { train: 128, validation: 64 });
  t.is(trained.code, 0, trained.stderr);
  const args = [
    ...['netadapt', '--arch', specFile, '--checkpoint', seedRun, '--table', tableFile, '--latency-resolution', '28'],
    ...['--latency-classes', '10', '--target-ratio', '0.8', '--delta-ratio', '0.05', '--finetune-steps', '600'],
    ...['--validation-samples', '64', '--parallel', '2', '--out', path.join(dir, 'na')],
  ];
  // Past the workers' start (tfjs, the dataset: a few seconds), inside the first fine-tunes.
  const stopped = await interruptWhen(args, (stderr) => /"msg":"netadapt"\}/.test(stderr), 6, 'SIGINT');
  t.log(`netadapt: stopped ${stopped.stopSeconds.toFixed(2)} s after SIGINT`);
  t.is(stopped.code, 130, stopped.stderr);
  t.true(stopped.stopSeconds < 2, `stopped ${stopped.stopSeconds.toFixed(2)} s after SIGINT`);
  t.regex(stopped.stderr, /NetAdapt interrupted in step 1: .*continue with nas netadapt --out \S+ --resume\n/);
  t.true(stopped.orphanSeconds < 5, 'the fine-tuning workers are gone');
});

test.serial('the stop latencies of every signal sent above', (t) => {
  t.log(`seed ${SEED}: ${stops.length} signals sent`);
  for (const kind of ['train', 'search', 'netadapt']) {
    const mine = stops.filter((s) => s.kind === kind).map((s) => s.stopSeconds);
    if (mine.length)
      t.log(`${kind}: ${mine.length} signals, stop latency ${Math.min(...mine).toFixed(2)}-${Math.max(...mine).toFixed(2)} s`);
  }
  const worst = stops.reduce((a, b) => (b.stopSeconds > a.stopSeconds ? b : a), stops[0]!);
  t.log(`worst stop latency: ${worst.stopSeconds.toFixed(2)} s (${worst.kind}, ${worst.signal}, exit ${worst.code})`);
  t.true(stops.length >= 20, 'at least 20 signals were sent');
  t.true(stops.every((s) => s.stopSeconds < STOP_LIMIT_SECONDS));
});
