/**
 * Training throughput (images/s) of mobilenetv3-small-1.0 at 32x32, 10 classes, batch 32, on every
 * tfjs backend available, against PyTorch on the same network in the same run (when Debian's
 * python3-torch is installed: apt-get install python3-torch). Records results/bench.md and
 * results/bench-train-throughput.json.
 *
 *   node dist/bench/train-throughput.js [--steps 30] [--model mobilenetv3-small-1.0]
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { derive } from '../src/common/rng.js';
import { PROJECT_ROOT, TOOL_NAME } from '../src/common/version.js';
import { specCost } from '../src/search-space/cost.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { BACKENDS, type BackendName } from '../src/trainer/backend-names.js';
import { buildModel } from '../src/trainer/build-model.js';
import { ImageBatcher } from '../src/trainer/data/batches.js';
import { loadFashionMnist } from '../src/trainer/data/fashion-mnist.js';
import { DEFAULT_OPTIMIZER, Optimizer } from '../src/trainer/optimizer.js';
import { tf } from '../src/trainer/tf.js';
import { trainingStep } from '../src/trainer/train.js';
import { benchArguments, lastJsonLine, machineText, numberArgument, writeBenchRecord, writeSection } from './report.js';

const PYTHON = '/usr/bin/python3';

interface Row {
  engine: string;
  threads: number;
  msPerStep: number;
  imagesPerSec: number;
  note: string;
}

const args = benchArguments({ model: 'mobilenetv3-small-1.0', steps: '30' });
const modelName = args.model;
const steps = numberArgument(args, 'steps');
const batchSize = 32;
const spec = zooSpec(modelName, { resolution: 32, classes: 10 });

async function tfjsThroughput(backend: BackendName): Promise<Row | null> {
  try {
    await prepareBackend(backend);
  } catch (err) {
    console.error(`skipping ${backend}: ${(err as Error).message}`);
    return null;
  }
  const model = buildModel(spec, { seed: 0, bnMomentum: 0.9 });
  const optimizer = new Optimizer(model.trainableWeights, DEFAULT_OPTIMIZER.rmsprop);
  const step = trainingStep(model, optimizer);
  const x = tf.randomNormal([batchSize, 32, 32, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batchSize }, (_, i) => i % 10),
      'int32',
    ),
    10,
  );
  const timed = backend === 'cpu' ? Math.min(3, steps) : steps;
  for (let i = 0; i < 3; i++) step({ x, y }, 0.001);
  const start = performance.now();
  for (let i = 0; i < timed; i++) step({ x, y }, 0.001);
  const ms = (performance.now() - start) / timed;
  tf.dispose([x, y]);
  model.dispose();
  return {
    engine: `tfjs ${backend}`,
    threads: 1,
    msPerStep: ms,
    imagesPerSec: (batchSize * 1000) / ms,
    note: `${timed} steps after 3 warm-up`,
  };
}

function torchThroughput(specFile: string, threads: number): Row | null {
  if (!existsSync(PYTHON)) return null;
  try {
    const out = execFileSync(
      PYTHON,
      [path.join(PROJECT_ROOT, 'bench', 'pytorch_train.py'), specFile, '--threads', String(threads), '--steps', String(steps)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = lastJsonLine<{ imagesPerSec: number; msPerStep: number; torch: string; params: number }>(out);
    const expected = specCost(spec).params;
    if (r.params !== expected) throw new Error(`PyTorch built ${r.params} parameters, the spec has ${expected}`);
    return {
      engine: `PyTorch ${r.torch}`,
      threads,
      msPerStep: r.msPerStep,
      imagesPerSec: r.imagesPerSec,
      note: `${steps} steps after 5 warm-up, same net from the spec`,
    };
  } catch (err) {
    console.error(`skipping PyTorch (${threads} threads): ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
}

/** Cost of assembling one training batch (augmented) from Fashion-MNIST, for comparison with a step. */
function batchAssemblyMs(): number {
  const data = loadFashionMnist();
  const batcher = new ImageBatcher(data, 'train', { resolution: 32, channels: 3, augment: true, labelSmoothing: 0.1 });
  const indices = Array.from({ length: batchSize }, (_, i) => i * 7);
  const rng = derive('bench-batches');
  const once = () => {
    const b = batcher.batch(indices, rng);
    tf.dispose([b.x, b.y]);
  };
  for (let i = 0; i < 5; i++) once();
  const start = performance.now();
  for (let i = 0; i < 50; i++) once();
  return (performance.now() - start) / 50;
}

async function main() {
  const specFile = path.join(mkdtempSync(path.join(tmpdir(), 'nas-bench-')), `${spec.name}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  const rows: Row[] = [];
  const torch1 = torchThroughput(specFile, 1);
  const torch2 = cpus().length > 1 ? torchThroughput(specFile, 2) : null;
  for (const r of [torch1, torch2]) if (r) rows.push(r);
  for (const backend of BACKENDS) {
    const row = await tfjsThroughput(backend);
    if (row) rows.push(row);
  }
  await prepareBackend('auto');
  const dataMs = batchAssemblyMs();
  const baseline = torch1 ?? rows.find((r) => r.engine === 'tfjs cpu') ?? rows[0]!;
  const table = markdownTable(
    ['engine', 'threads', 'ms/step', 'images/s', `vs ${baseline.engine} (${baseline.threads} thr)`, 'note'],
    rows.map((r) => [
      r.engine,
      String(r.threads),
      r.msPerStep.toFixed(1),
      r.imagesPerSec.toFixed(1),
      `${(r.imagesPerSec / baseline.imagesPerSec).toFixed(2)}x`,
      r.note,
    ]),
  );
  const report = [
    '## Training throughput',
    '',
    `\`node dist/bench/train-throughput.js\` (${TOOL_NAME}, ${new Date().toISOString().slice(0, 10)}): ${modelName} at 32x32, 10 classes,`,
    `batch ${batchSize}, RMSProp, random data; ${machineText()}, tfjs ${tf.version.tfjs}.`,
    "The tfjs wasm step uses the project's gradient kernels (verified against the cpu backend in test/wasm-kernels.test.ts).",
    '',
    table,
    '',
    `Assembling one augmented Fashion-MNIST batch (32 images, 32x32x3) takes ${dataMs.toFixed(2)} ms.`,
    '',
  ].join('\n');
  console.log(report);
  await writeSection(report);
  await writeBenchRecord(path.join(PROJECT_ROOT, 'results', 'bench-train-throughput.json'), 'bench-train-throughput', {
    model: modelName,
    batchSize,
    rows,
    batchAssemblyMs: dataMs,
    baseline: baseline.engine,
  });
}

await main();
