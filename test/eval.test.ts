import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError } from '../src/common/errors.js';
import { TOOL_NAME } from '../src/common/version.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { buildModel } from '../src/trainer/build-model.js';
import { saveCheckpoint } from '../src/trainer/checkpoint.js';
import { evaluateCheckpoint } from '../src/trainer/evaluate-checkpoint.js';
import { inheritedCheckpoint } from './helpers/checkpoint.js';
import { nas } from './helpers/cli.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-eval-'));

test.before(async () => {
  await prepareBackend('auto');
});

/** A checkpoint as a supernet search writes its best-weights/. */
function bestWeights(state: Parameters<typeof inheritedCheckpoint>[1] = {}): Promise<string> {
  return inheritedCheckpoint(path.join(tmp(), 'best-weights'), state);
}

test("nas eval scores a supernet search's best-weights (inherited weights) on the dataset it names", async (t) => {
  const dir = await bestWeights({ dataset: 'fashion-mnist' });
  const result = await evaluateCheckpoint({ checkpoint: dir, split: 'validation', backend: 'auto' });
  t.like(result, { metric: 'top-1', split: 'validation', spec: 'tiny-best', weights: 'inherited', partial: false });
  t.regex(result.dataset, /fashion-mnist/);
  t.true(result.images > 0 && result.top1 >= 0 && result.top1 <= 1);
  // Before, state.json's kind was refused with a schema dump; the CLI prints the score.
  const cli = await nas('eval', '--checkpoint', dir, '--split', 'validation');
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, /^validation top-1 \d+\.\d\d% on \d+ images of .*\(tiny-best, inherited supernet weights, \w+\)\n$/);
});

test('nas eval --samples N scores the first N images of the split and says so; more than the split holds scores it whole', async (t) => {
  const dir = await bestWeights({ dataset: 'fashion-mnist' });
  const first = await evaluateCheckpoint({ checkpoint: dir, split: 'validation', samples: 100, backend: 'auto' });
  t.like(first, { images: 100, partial: true });
  const beyond = await evaluateCheckpoint({ checkpoint: dir, split: 'validation', samples: 1_000_000, backend: 'auto' });
  t.false(beyond.partial);
  t.true(beyond.images > 100 && beyond.images < 1_000_000);
  const cli = await nas('eval', '--checkpoint', dir, '--split', 'validation', '--samples', '100');
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, /^validation top-1 \d+\.\d\d% on the first 100 images of /);
  const zero = await nas('eval', '--checkpoint', dir, '--samples', '0');
  t.is(zero.code, 2);
  t.regex(zero.stderr, /--samples/);
});

test('nas eval of inherited weights that name no dataset asks for --dataset in one line', async (t) => {
  const dir = await bestWeights();
  await t.throwsAsync(evaluateCheckpoint({ checkpoint: dir, split: 'test', backend: 'auto' }), {
    instanceOf: InputError,
    message: /do not name the dataset their supernet trained on .*: give --dataset/,
  });
  const result = await evaluateCheckpoint({ checkpoint: dir, dataset: 'fashion-mnist', split: 'validation', backend: 'auto' });
  t.is(result.weights, 'inherited');
});

test("nas eval of a supernet search's run directory points to its best-weights/ in one line", async (t) => {
  const dir = await bestWeights({ dataset: 'fashion-mnist' });
  const cli = await nas('eval', '--checkpoint', path.dirname(dir));
  t.is(cli.code, 2, cli.stderr);
  t.is(
    cli.stderr,
    `nas: ${path.dirname(dir)}: no checkpoint here (expected model.json in it or in ${path.dirname(dir)}/checkpoint); ${dir} holds one: give that\n`,
  );
});

test('nas eval of a segmentation checkpoint on a classification dataset says to evaluate it on a segmentation one', async (t) => {
  const dir = path.join(tmp(), 'seg');
  const spec = zooSpec('lraspp-mobilenetv3-small-0.5', { resolution: 32, classes: 11 });
  const model = buildModel(spec);
  try {
    await saveCheckpoint(dir, model, spec, { kind: 'inherited-weights', tool: TOOL_NAME, dataset: 'fashion-mosaic' });
  } finally {
    model.dispose();
  }
  await t.throwsAsync(evaluateCheckpoint({ checkpoint: dir, dataset: 'fashion-mnist', split: 'validation', backend: 'auto' }), {
    instanceOf: InputError,
    message:
      "the checkpoint's lraspp-mobilenetv3-small-0.5 is a segmentation network: evaluate it on a segmentation dataset (--dataset fashion-mosaic: per-pixel labels), not fashion-mnist, a classification one",
  });
});
