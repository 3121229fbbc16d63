/**
 * Supernet training throughput against the largest member of the space trained standalone, in
 * the same run: images/s of (a) the largest member as a built model, (b) the same member through
 * the supernet (the cost of slicing shared weights), (c) uniformly sampled members through the
 * supernet (what a supernet search does). Mobilenetv3 space at 32x32, 10 classes, batch 32,
 * RMSProp, random data. Records results/bench.md.
 *
 *   node dist/bench/supernet-throughput.js [--steps 20] [--space mobilenetv3]
 */
import { markdownTable } from '../src/common/format.js';
import { derive, nextSeed } from '../src/common/rng.js';
import { TOOL_NAME } from '../src/common/version.js';
import { specCost } from '../src/search-space/cost.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { supernetOptimizer, supernetTrainingStep } from '../src/supernet/step.js';
import { Supernet } from '../src/supernet/supernet.js';
import { currentBackend, prepareBackend } from '../src/trainer/backend.js';
import { buildModel } from '../src/trainer/build-model.js';
import { DEFAULT_OPTIMIZER, Optimizer } from '../src/trainer/optimizer.js';
import { tf } from '../src/trainer/tf.js';
import { trainingStep } from '../src/trainer/train.js';
import { benchArguments, machineText, numberArgument, writeSection } from './report.js';

const args = benchArguments({ steps: '20', space: 'mobilenetv3' });
const steps = numberArgument(args, 'steps');
const spaceName = args.space;
const batchSize = 32;
const warmup = 3;

/** ms per step of `step`, after a few warm-up steps. */
function timeSteps(step: (i: number) => void): number {
  for (let i = 0; i < warmup; i++) step(i);
  const started = performance.now();
  for (let i = 0; i < steps; i++) step(warmup + i);
  return (performance.now() - started) / steps;
}

async function main(): Promise<void> {
  await prepareBackend('auto');
  const space = getChoiceSpace(spaceName);
  const largest = space.choicePoints.map((c) => c.options.length - 1);
  const spec = space.materialise(largest, { resolution: 32, classes: 10, name: `${spaceName}-largest` });
  const x = tf.randomNormal([batchSize, 32, 32, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batchSize }, (_, i) => i % 10),
      'int32',
    ),
    10,
  );

  const model = buildModel(spec, { seed: 0, bnMomentum: 0.9 });
  const standaloneStep = trainingStep(model, new Optimizer(model.trainableWeights, DEFAULT_OPTIMIZER.rmsprop));
  const standaloneMs = timeSteps(() => standaloneStep({ x, y }, 1e-3));
  model.dispose();

  const supernet = new Supernet(space, { resolution: 32, classes: 10, seed: 0 });
  const step = supernetTrainingStep(supernet, supernetOptimizer(supernet, { kind: 'rmsprop', momentum: 0.9, weightDecay: 1e-5 }));
  const sameMemberMs = timeSteps((i) => step([largest], { x, y }, 1e-3, i));
  const rng = derive(0, 'throughput-members');
  const members = Array.from({ length: warmup + steps }, () => space.randomChoices(rng));
  const sampledMs = timeSteps((i) => step([members[i]!], { x, y }, 1e-3, nextSeed(rng)));
  supernet.dispose();

  const perSec = (ms: number) => (1000 * batchSize) / ms;
  const rows = [
    ['largest member, built model (baseline)', standaloneMs, '1.00x'],
    ['largest member, through the supernet', sameMemberMs, `${(standaloneMs / sameMemberMs).toFixed(2)}x`],
    ['uniformly sampled members, through the supernet', sampledMs, `${(standaloneMs / sampledMs).toFixed(2)}x`],
  ] as const;
  const backend = currentBackend();
  const section = [
    '## Supernet training throughput',
    '',
    `\`node dist/bench/supernet-throughput.js --steps ${steps}\` (${TOOL_NAME}, ${new Date().toISOString().slice(0, 10)}): space ${spaceName} at 32x32, 10 classes, batch ${batchSize}, RMSProp, random data, ${steps} steps after ${warmup} warm-up each;`,
    `the largest member (${(specCost(spec).params / 1e6).toFixed(2)} M parameters, ${(specCost(spec).madds / 1e6).toFixed(1)} M MAdds at 32x32). ${machineText()}, tfjs ${tf.version.tfjs} ${backend.backend} (${backend.threads} thread(s)).`,
    '',
    markdownTable(
      ['workload', 'ms/step', 'images/s', 'vs largest member standalone'],
      rows.map(([name, ms, ratio]) => [name, ms.toFixed(1), perSec(ms).toFixed(1), ratio]),
    ),
  ].join('\n');
  await writeSection(section);
  process.stdout.write(`${section}\n`);
}

await main();
