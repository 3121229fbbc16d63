/**
 * Scoring throughput: `evaluate()` (validation, test scoring, `nas eval`, NetAdapt's proposals)
 * with its default images per forward pass against passes of 32 images (what tfjs' predict() did
 * with the batches of 64 evaluate built before 2026-12-07), on Fashion-MNIST's validation split,
 * for zoo models at 32x32 and 64x64, in the same run. Each pair's scores must be equal: the bench
 * stops otherwise. Records results/bench.md ("Scoring throughput") and
 * results/bench-scoring-batch.json.
 *
 *   node dist/bench/scoring-batch.js [--images 2048] [--rounds 3] [--models mobilenetv3-small-1.0,mobilenetv3-large-1.0]
 */
import path from 'node:path';
import { countOf, markdownTable } from '../src/common/format.js';
import { PROJECT_ROOT, TOOL_NAME } from '../src/common/version.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { currentBackend, prepareBackend } from '../src/trainer/backend.js';
import { buildModel } from '../src/trainer/build-model.js';
import { ImageBatcher } from '../src/trainer/data/batches.js';
import { loadFashionMnist } from '../src/trainer/data/fashion-mnist.js';
import { tf } from '../src/trainer/tf.js';
import { evaluate, scoringBatchSize } from '../src/trainer/train.js';
import { badArgument, benchArguments, machineText, numberArgument, writeBenchRecord, writeSection } from './report.js';

const args = benchArguments({ images: '2048', rounds: '3', models: 'mobilenetv3-small-1.0,mobilenetv3-large-1.0' });
const IMAGES = numberArgument(args, 'images');
const ROUNDS = numberArgument(args, 'rounds');
const MODELS = args.models.split(',').filter(Boolean);
if (MODELS.length === 0) badArgument('--models expects one or more zoo names, comma-separated');
const RESOLUTIONS = [32, 64];
/** Images per forward pass before: evaluate's batches of 64, which predict() ran 32 at a time. */
const BASELINE_BATCH = 32;

interface Row {
  model: string;
  resolution: number;
  /** Images scored: --images, or the validation split when it holds fewer. */
  images: number;
  batch: number;
  baselineMsPerImage: number;
  msPerImage: number;
  top1: number;
}

/** Milliseconds per image of scoring `images` validation images, the fastest of `ROUNDS` rounds, and the score. */
function timeScoring(images: number, score: () => number): { msPerImage: number; top1: number } {
  let best = Number.POSITIVE_INFINITY;
  let top1 = Number.NaN;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    top1 = score();
    best = Math.min(best, (performance.now() - start) / images);
  }
  return { msPerImage: best, top1 };
}

function measure(model: string, resolution: number): Row {
  const spec = zooSpec(model, { resolution, classes: 10 });
  const built = buildModel(spec, { seed: 1 });
  const batcher = new ImageBatcher(loadFashionMnist(), 'validation', { resolution, channels: 3, augment: false, limit: IMAGES });
  evaluate(built, batcher, BASELINE_BATCH); // warm-up: kernels compiled, memory allocated
  // --images above the split's size scores the whole split.
  const before = timeScoring(batcher.count, () => evaluate(built, batcher, BASELINE_BATCH));
  const after = timeScoring(batcher.count, () => evaluate(built, batcher));
  if (before.top1 !== after.top1)
    throw new Error(`${model} at ${resolution}px scored ${before.top1} in passes of ${BASELINE_BATCH} and ${after.top1} by default`);
  const batch = scoringBatchSize(built);
  built.dispose();
  return {
    model,
    resolution,
    images: batcher.count,
    batch,
    baselineMsPerImage: before.msPerImage,
    msPerImage: after.msPerImage,
    top1: after.top1,
  };
}

async function main() {
  await prepareBackend('auto');
  const { backend, threads } = currentBackend();
  const rows = MODELS.flatMap((model) => RESOLUTIONS.map((resolution) => measure(model, resolution)));
  const table = markdownTable(
    ['model', 'input', 'images per pass', `ms/image, passes of ${BASELINE_BATCH}`, 'ms/image', 'speed-up', 'top-1 (both)'],
    rows.map((r) => [
      r.model,
      `${r.resolution}x${r.resolution}`,
      String(r.batch),
      r.baselineMsPerImage.toFixed(3),
      r.msPerImage.toFixed(3),
      `${(r.baselineMsPerImage / r.msPerImage).toFixed(2)}x`,
      `${(100 * r.top1).toFixed(2)}%`,
    ]),
  );
  const report = [
    '## Scoring throughput',
    '',
    `\`node dist/bench/scoring-batch.js\` (${TOOL_NAME}, ${new Date().toISOString().slice(0, 10)}): \`evaluate()\` on ${rows[0]!.images} Fashion-MNIST`,
    `validation images, untrained zoo models (10 classes), the fastest of ${ROUNDS} rounds after one warm-up; its default images per`,
    `forward pass against passes of ${BASELINE_BATCH}, in the same run; each pair's scores are equal. tfjs ${backend} (${countOf(threads, 'thread')}),`,
    `${machineText()}, tfjs ${tf.version.tfjs}.`,
    '',
    table,
    '',
  ].join('\n');
  console.log(report);
  await writeSection(report);
  await writeBenchRecord(path.join(PROJECT_ROOT, 'results', 'bench-scoring-batch.json'), 'bench-scoring-batch', {
    backend,
    threads,
    images: rows[0]!.images,
    rounds: ROUNDS,
    baselineBatch: BASELINE_BATCH,
    rows,
  });
}

await main();
