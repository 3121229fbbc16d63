/**
 * The training run directory (TrainRunDir) and the `nas train` job (runTrainJob): what a run
 * writes, validated reads that name the file and the JSON path, refusing a directory that holds a
 * run, --force and --resume.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError, InterruptedError, NasError } from '../src/common/errors.js';
import { parseArchSpec } from '../src/search-space/archspec.js';
import { specHash } from '../src/search-space/spec-hash.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { outOfMemory, runTrainJob, type TrainJobRequest } from '../src/trainer/train-job.js';
import { TRAIN_RUN_FILES, TrainRunDir } from '../src/trainer/train-run.js';
import { tinyImageFolder } from './helpers/folder.js';
import { tinySpec } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-train-run-'));

test.before(async () => {
  await prepareBackend('auto');
});

function jobRequest(outDir: string, folder: string, extra: Partial<TrainJobRequest> = {}): TrainJobRequest {
  return {
    spec: tinySpec({ resolution: 16, channels: 1, classes: 2, name: 'tiny2' }),
    source: 'tiny2.json',
    dataset: `folder:${folder}`,
    config: { epochs: 1, batchSize: 16, seed: 4 },
    outDir,
    backend: 'auto',
    command: 'nas train (test)',
    ...extra,
  };
}

test.serial(
  'runTrainJob writes run.json, the checkpoint and result.json; a second start is refused, --force and --resume are not',
  async (t) => {
    const folder = tinyImageFolder();
    const out = path.join(tmp(), 'run');
    const summary = await runTrainJob(jobRequest(out, folder));
    t.deepEqual(Object.keys(summary), [
      'top1',
      'testImages',
      'valTop1',
      'epochs',
      'imagesPerSec',
      'backend',
      'params',
      'madds',
      'checkpoint',
    ]);
    t.is(summary.checkpoint, path.join(out, TRAIN_RUN_FILES.checkpoint));

    const run = new TrainRunDir(out);
    const record = run.readRecord()!;
    t.is(record.kind, 'train-run');
    t.is(record.command, 'nas train (test)');
    t.is(record.dataset, `folder:${folder}`);
    t.is(record.specHash, specHash(tinySpec({ resolution: 16, channels: 1, classes: 2, name: 'tiny2' })));
    const result = run.readResult();
    t.is(result.kind, 'train-result');
    t.is(result.seed, 4);
    t.is(result.history.length, 1);
    t.like(result, summary);
    t.true(run.hasCheckpoint());
    t.is(run.readCheckpoint().state.globalStep, result.history.length * Math.floor(48 / 16));

    await t.throwsAsync(runTrainJob(jobRequest(out, folder)), { instanceOf: InputError, message: /already holds a training run/ });

    const resumed = await runTrainJob(jobRequest(out, folder, { resume: true, config: { epochs: 2, batchSize: 16, seed: 4 } }));
    t.is(resumed.epochs, 2);
    t.is(run.readRecord()!.createdAt, record.createdAt, 'a resume keeps the run record');
    t.is(run.readResult().history.length, 2);

    const forced = await runTrainJob(jobRequest(out, folder, { force: true }));
    t.is(forced.epochs, 1);
    t.not(run.readRecord()!.createdAt, record.createdAt, '--force starts a new record');
  },
);

test.serial('runTrainJob checks the task, and an abort before training writes nothing', async (t) => {
  const folder = tinyImageFolder();
  const out = path.join(tmp(), 'run');
  await t.throwsAsync(runTrainJob(jobRequest(out, folder, { task: 'segmentation' })), {
    instanceOf: InputError,
    message: /tiny2\.json is a classification network; --task segmentation needs a spec with an LR-ASPP head/,
  });
  const controller = new AbortController();
  controller.abort();
  await t.throwsAsync(runTrainJob(jobRequest(out, folder, { signal: controller.signal })), {
    instanceOf: InterruptedError,
    message: /before training started/,
  });
  t.false(existsSync(out));
});

test.serial('an interrupted runTrainJob says the whole command that continues it', async (t) => {
  const folder = tinyImageFolder();
  const out = path.join(tmp(), 'run');
  const controller = new AbortController();
  const err = await t.throwsAsync(
    runTrainJob(jobRequest(out, folder, { signal: controller.signal, onProgress: () => controller.abort() })),
    {
      instanceOf: InterruptedError,
    },
  );
  t.true(err!.message.endsWith(`; continue with nas train --out ${out} --resume`), err!.message);
});

test('a wasm runtime error in training is said to be the backend out of memory, with what to lower', (t) => {
  const spec = parseArchSpec(tinySpec({ resolution: 16, name: 'tiny' }), 'tiny.json');
  const config = { batchSize: 8 } as Parameters<typeof outOfMemory>[2];
  const err = outOfMemory(new WebAssembly.RuntimeError('Aborted()'), spec, config);
  t.true(err instanceof NasError && !(err instanceof InputError));
  t.is(
    err!.message,
    'training tiny at 16x16 with batches of 8 ran the wasm backend out of memory (Aborted()): lower --resolution or --batch-size',
  );
  t.is(outOfMemory(new Error('other'), spec, config), null);
});

test('TrainRunDir: reads are validated and name the file and the JSON path', (t) => {
  const dir = tmp();
  const run = new TrainRunDir(dir);
  t.is(run.readRecord(), null);
  t.false(run.holdsRun());
  run.refuseExistingRun({});
  t.throws(() => run.readResult(), { instanceOf: InputError, message: /no result\.json \(the run has not finished\)/ });

  writeFileSync(run.file('result'), JSON.stringify({ schemaVersion: 1, kind: 'train-result', epochs: 'two' }));
  t.true(run.holdsRun());
  t.throws(() => run.refuseExistingRun({}), { instanceOf: InputError, message: /already holds a training run/ });
  run.refuseExistingRun({ force: true });
  run.refuseExistingRun({ resume: true });
  const err = t.throws(() => run.readResult(), { instanceOf: InputError });
  t.true(err!.message.startsWith(`${run.file('result')}: `), err!.message);
  t.regex(err!.message, /\$\.epochs: .*number/);

  writeFileSync(run.file('run'), JSON.stringify({ schemaVersion: 2, kind: 'train-run' }));
  t.throws(() => run.readRecord(), { instanceOf: InputError, message: /run\.json: .*\$\.schemaVersion/ });

  mkdirSync(run.file('checkpoint'));
  t.false(run.hasCheckpoint());
  t.throws(() => run.readCheckpoint(), { instanceOf: InputError, message: /no checkpoint here/ });
});

test.serial('TrainRunDir.readCheckpoint validates the trainer state', async (t) => {
  const folder = tinyImageFolder();
  const out = path.join(tmp(), 'run');
  await runTrainJob(jobRequest(out, folder));
  const stateFile = path.join(out, TRAIN_RUN_FILES.checkpoint, 'state.json');
  const state = JSON.parse(readFileSync(stateFile, 'utf8'));
  writeFileSync(stateFile, JSON.stringify({ ...state, globalStep: -1 }));
  t.throws(() => new TrainRunDir(out).readCheckpoint(), { instanceOf: InputError, message: /state\.json: \$\.globalStep: / });
});

test.serial('runTrainJob with initFrom starts from the checkpoint of the same architecture and refuses another', async (t) => {
  const folder = tinyImageFolder();
  const first = path.join(tmp(), 'first');
  await runTrainJob(jobRequest(first, folder));
  const firstWeights = new TrainRunDir(first).readCheckpoint().weights;

  // A learning rate of ~0: the fine-tuned run ends where it started, at the first run's weights.
  const tuned = path.join(tmp(), 'tuned');
  await runTrainJob(jobRequest(tuned, folder, { initFrom: first, config: { epochs: 1, batchSize: 16, seed: 5, learningRate: 1e-12 } }));
  const tunedWeights = new Map(new TrainRunDir(tuned).readCheckpoint().weights.map((w) => [w.name, w]));
  const kernels = firstWeights.filter((w) => w.name.endsWith('kernel'));
  t.true(kernels.length > 2);
  for (const w of kernels) {
    const other = tunedWeights.get(w.name)!;
    const maxDiff = w.values.reduce((m, v, i) => Math.max(m, Math.abs(v - other.values[i]!)), 0);
    t.true(maxDiff < 1e-6, `${w.name} moved by ${maxDiff}`);
  }
  // Without initFrom the same settings start from a fresh initialisation (seed 5), far from the first run.
  const fresh = path.join(tmp(), 'fresh');
  await runTrainJob(jobRequest(fresh, folder, { config: { epochs: 1, batchSize: 16, seed: 5, learningRate: 1e-12 } }));
  const freshKernel = new TrainRunDir(fresh).readCheckpoint().weights.find((w) => w.name === kernels[0]!.name)!;
  t.true(freshKernel.values.some((v, i) => Math.abs(v - kernels[0]!.values[i]!) > 1e-3));

  const base = tinySpec({ resolution: 16, channels: 1, classes: 2, name: 'tiny-wide' });
  const other = parseArchSpec({ ...base, head: { ...base.head, conv: { ...base.head.conv!, out: 96 } } }, 'tiny-wide.json');
  await t.throwsAsync(runTrainJob(jobRequest(path.join(tmp(), 'other'), folder, { spec: other, initFrom: first })), {
    instanceOf: InputError,
    message: /--init-from .*another architecture than tiny-wide/,
  });
});

test.serial('runTrainJob --resume without epochs keeps the run length; with epochs it extends the run', async (t) => {
  const folder = tinyImageFolder();
  const out = path.join(tmp(), 'run');
  await runTrainJob(jobRequest(out, folder, { config: { epochs: 1, batchSize: 16, seed: 4 } }));
  await runTrainJob(jobRequest(out, folder, { resume: true, config: { batchSize: 16, seed: 4 } }));
  t.is(new TrainRunDir(out).readResult().history.length, 1);
  await runTrainJob(jobRequest(out, folder, { resume: true, config: { batchSize: 16, seed: 4, epochs: 2 } }));
  t.is(new TrainRunDir(out).readResult().history.length, 2);
});

test.serial('runTrainJob --resume with epochs below those trained (a begun one included) is refused and writes nothing', async (t) => {
  const folder = tinyImageFolder();
  const out = path.join(tmp(), 'run');
  const config = { batchSize: 16, seed: 4 };
  await runTrainJob(jobRequest(out, folder, { config: { ...config, epochs: 2 } }));
  const result = readFileSync(new TrainRunDir(out).file('result'), 'utf8');
  await t.throwsAsync(runTrainJob(jobRequest(out, folder, { resume: true, config: { ...config, epochs: 1 } })), {
    instanceOf: InputError,
    message: `--epochs 1 is below the 2 epochs already trained in ${out}: give --epochs 2 or more`,
  });
  t.is(readFileSync(new TrainRunDir(out).file('result'), 'utf8'), result);

  const interrupted = path.join(tmp(), 'interrupted');
  const controller = new AbortController();
  const stopInSecondEpoch = (p: { epoch: number }) => p.epoch === 2 && controller.abort();
  const started = jobRequest(interrupted, folder, {
    config: { ...config, epochs: 3 },
    signal: controller.signal,
    onProgress: stopInSecondEpoch,
  });
  await t.throwsAsync(runTrainJob(started), { instanceOf: InterruptedError });
  await t.throwsAsync(runTrainJob(jobRequest(interrupted, folder, { resume: true, config: { ...config, epochs: 1 } })), {
    message: `--epochs 1 is below the 1 epoch and 1 step already trained in ${interrupted}: give --epochs 2 or more`,
  });
  const resumed = await runTrainJob(jobRequest(interrupted, folder, { resume: true, config: { ...config, epochs: 2 } }));
  t.is(resumed.epochs, 2);
});

test.serial(
  "result.json's wall time is the whole run's: the checkpoint keeps what earlier sessions spent, an interrupted one too",
  async (t) => {
    const folder = tinyImageFolder();
    const out = path.join(tmp(), 'run');
    const run = new TrainRunDir(out);
    const config = { batchSize: 16, seed: 4, epochs: 2 };
    const controller = new AbortController();
    const stopInSecondEpoch = (p: { epoch: number }) => p.epoch === 2 && controller.abort();
    await t.throwsAsync(runTrainJob(jobRequest(out, folder, { config, signal: controller.signal, onProgress: stopInSecondEpoch })), {
      instanceOf: InterruptedError,
    });
    const interrupted = run.readCheckpointHead().state.wallSeconds!;
    t.true(interrupted > 0, 'the interrupted session saved its time with its checkpoint');
    await runTrainJob(jobRequest(out, folder, { resume: true, config }));
    const result = run.readResult();
    t.true(result.sessionWallSeconds! > 0);
    t.true(Math.abs(result.wallSeconds - (interrupted + result.sessionWallSeconds!)) < 1e-9, JSON.stringify(result));
    t.true(run.readCheckpointHead().state.wallSeconds! > interrupted, 'the last checkpoint holds both sessions');
  },
);
