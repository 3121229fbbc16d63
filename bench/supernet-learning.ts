/**
 * Does a supernet of a space learn under uniform sampling, and how fast against one member trained
 * alone? For each space: (a) one fixed member through the supernet (the baseline: as fast as the
 * member built standalone), (b) a uniformly sampled member per step, both on the same shuffled
 * Fashion-MNIST batches at 32x32, SGD with momentum as the proxy recipe. Reports the mean training
 * loss per window of steps and, at the end, the validation top-1 (batch-statistics BN, 256
 * images) of the fixed member and of 5 uniformly drawn members. Writes results/supernet.md.
 *
 *   node dist/bench/supernet-learning.js [--steps 300] [--spaces mobilenetv3,mobilenetv3-ibn] [--lr 0.05]
 */
import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { derive, nextSeed, shuffle } from '../src/common/rng.js';
import { PROJECT_ROOT, TOOL_NAME } from '../src/common/version.js';
import type { ChoiceSpace } from '../src/search-space/choice-space.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { supernetOptimizer, supernetTrainingStep } from '../src/supernet/step.js';
import { Supernet } from '../src/supernet/supernet.js';
import { currentBackend, prepareBackend } from '../src/trainer/backend.js';
import { ImageBatcher } from '../src/trainer/data/batches.js';
import type { ImageDataset } from '../src/trainer/data/index.js';
import { loadDataset } from '../src/trainer/data/index.js';
import { tf } from '../src/trainer/tf.js';
import { benchArguments, machineText, numberArgument, writeSection } from './report.js';

const args = benchArguments({ steps: '300', spaces: 'mobilenetv3,mobilenetv3-ibn', lr: '0.05' });
const steps = numberArgument(args, 'steps');
const spaces = args.spaces.split(',');
const learningRate = numberArgument(args, 'lr');
const window = 25;
const batchSize = 32;
const RESULTS = path.join(PROJECT_ROOT, 'results', 'supernet.md');

interface Outcome {
  space: string;
  sampling: 'fixed member' | 'uniform';
  losses: number[];
  fixedTop1: number;
  sampledTop1: number[];
}

async function main(): Promise<void> {
  await prepareBackend('auto');
  const dataset = loadDataset('fashion-mnist', 32) as ImageDataset;
  const outcomes: Outcome[] = [];
  for (const name of spaces) {
    const space = getChoiceSpace(name);
    for (const sampling of ['fixed member', 'uniform'] as const) {
      const outcome = trainSupernet(space, dataset, sampling);
      outcomes.push(outcome);
      process.stdout.write(`${JSON.stringify(outcome)}\n`);
    }
  }
  const section = report(outcomes);
  await writeSection(section, RESULTS);
  process.stdout.write(`${section}\n`);
}

function trainSupernet(space: ChoiceSpace, dataset: ImageDataset, sampling: Outcome['sampling']): Outcome {
  const train = new ImageBatcher(dataset, 'train', { resolution: 32, channels: 3, augment: false, labelSmoothing: 0.1 });
  const supernet = new Supernet(space, { resolution: 32, classes: 10, seed: 0 });
  const step = supernetTrainingStep(supernet, supernetOptimizer(supernet, { kind: 'sgd', momentum: 0.9, weightDecay: 4e-5 }));
  const fixed = space.randomChoices(derive(1, 'fixed-member'));
  const sampler = derive(0, 'uniform-members');
  const order = shuffle(
    Int32Array.from({ length: train.count }, (_, i) => i),
    derive(0, 'order'),
  ) as Int32Array;
  const losses: number[] = [];
  let sum = 0;
  for (let i = 0; i < steps; i++) {
    const batch = train.batch(order.subarray(i * batchSize, (i + 1) * batchSize));
    const choices = sampling === 'uniform' ? space.randomChoices(sampler) : fixed;
    sum += step([choices], batch, learningRate * Math.min(1, (i + 1) / 20), nextSeed(sampler));
    tf.dispose([batch.x, batch.y]);
    if ((i + 1) % window === 0) {
      losses.push(sum / window);
      sum = 0;
    }
  }
  const top1 = validationTop1(supernet, dataset);
  const drawn = derive(7, 'evaluated-members');
  const outcome: Outcome = {
    space: space.definition.name,
    sampling,
    losses,
    fixedTop1: top1(fixed),
    sampledTop1: Array.from({ length: 5 }, () => top1(space.randomChoices(drawn))),
  };
  supernet.dispose();
  return outcome;
}

/** Top-1 of a member on the first 256 validation images, batch norm on the batch's statistics. */
function validationTop1(supernet: Supernet, dataset: ImageDataset): (choices: number[]) => number {
  const validation = new ImageBatcher(dataset, 'validation', { resolution: 32, channels: 3, augment: false, labelSmoothing: 0 });
  return (choices) => {
    const batch = validation.batch(Int32Array.from({ length: 256 }, (_, i) => i));
    const top1 = tf.tidy(() => {
      const logits = supernet.forward(choices, batch.x as tf.Tensor4D, { kind: 'batch' });
      return tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(batch.y, 1)), 'float32')).dataSync()[0]!;
    });
    tf.dispose([batch.x, batch.y]);
    return top1;
  };
}

function report(outcomes: Outcome[]): string {
  const backend = currentBackend();
  const windows = outcomes[0]!.losses.map((_, w) => `loss ${w * window + 1}-${(w + 1) * window}`);
  const every = Math.max(1, Math.floor(windows.length / 6));
  const shown = windows.map((_, w) => w).filter((w) => w % every === every - 1 || w === windows.length - 1);
  return [
    '## Does the supernet learn under uniform sampling?',
    '',
    `\`node dist/bench/supernet-learning.js --steps ${steps} --spaces ${spaces.join(',')} --lr ${learningRate}\` (${TOOL_NAME}, ${new Date().toISOString().slice(0, 10)}): Fashion-MNIST at 32x32, batch ${batchSize}, SGD momentum 0.9 at ${learningRate} after a 20-step ramp, label smoothing 0.1, the same shuffled batches for every run.`,
    `Top-1 on 256 validation images with batch statistics; "5 drawn members" are uniform draws of the space. ${machineText()}, tfjs ${tf.version.tfjs} ${backend.backend}.`,
    '',
    markdownTable(
      ['space', 'sampling', ...shown.map((w) => windows[w]!), 'fixed member top-1', '5 drawn members top-1'],
      outcomes.map((o) => [
        o.space,
        o.sampling,
        ...shown.map((w) => o.losses[w]!.toFixed(3)),
        `${(100 * o.fixedTop1).toFixed(1)}%`,
        o.sampledTop1.map((a) => `${(100 * a).toFixed(0)}%`).join(' '),
      ]),
    ),
  ].join('\n');
}

await main();
