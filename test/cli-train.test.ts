import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { PNG } from 'pngjs';
import { prepareBackend } from '../src/trainer/backend.js';
import { inheritedCheckpoint } from './helpers/checkpoint.js';
import { nas, nasTrainTiny } from './helpers/cli.js';
import { filesUnder } from './helpers/files.js';
import { tinyImageFolder } from './helpers/folder.js';
import { startedSearchRun } from './helpers/search.js';
import { tinySpec } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-cli-train-'));
const lastLine = (s: string) => s.trim().split('\n').pop()!;

function writeSpec(dir: string, name: string, options: Parameters<typeof tinySpec>[0] = {}): string {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(tinySpec({ name, ...options })));
  return file;
}

test('nas train --json trains, checkpoints and reports; nas eval reproduces the test accuracy', async (t) => {
  const dir = tmp();
  const spec = writeSpec(dir, 'tiny');
  const out = path.join(dir, 'run');
  const trained = await nasTrainTiny(spec, out, { train: 256, validation: 128, test: 'all' }, '--json');
  t.is(trained.code, 0, trained.stderr);
  const result = JSON.parse(lastLine(trained.stdout));
  t.deepEqual(Object.keys(result), ['top1', 'testImages', 'valTop1', 'epochs', 'imagesPerSec', 'backend', 'params', 'madds', 'checkpoint']);
  t.is(result.testImages, 10_000);
  t.is(result.epochs, 1);
  t.is(result.backend, 'wasm');
  t.true(result.top1 >= 0 && result.top1 <= 1 && result.valTop1 >= 0, `test top-1 ${result.top1}`);
  t.true(existsSync(path.join(result.checkpoint, 'model.json')));
  const record = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'));
  t.is(record.kind, 'train-result');
  t.is(record.seed, 0);
  const evaluated = await nas('eval', '--checkpoint', out, '--json');
  t.is(evaluated.code, 0, evaluated.stderr);
  t.is(JSON.parse(lastLine(evaluated.stdout)).top1, result.top1);
});

test('nas train: bad input exits 2 with one line naming the problem', async (t) => {
  const dir = tmp();
  const spec = writeSpec(dir, 'tiny');
  const cases: [string[], RegExp][] = [
    [['--dataset', 'imagenet'], /unknown dataset "imagenet"/],
    [['--dataset', `folder:${path.join(dir, 'nowhere')}`], /no such directory/],
    [['--arch', path.join(dir, 'missing.json')], /missing\.json: no such file/],
    [['--lr', '-1'], /--lr -1: give a number above 0/],
  ];
  for (const [extra, message] of cases) {
    const args = ['train', '--arch', spec, '--out', path.join(dir, 'run'), ...extra];
    const res = await nas(...args);
    t.is(res.code, 2, `${extra.join(' ')}: ${res.stderr}`);
    t.regex(res.stderr, message);
    t.is(
      res.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('nas:')).length,
      1,
    );
  }
});

test('nas train: RGB data for a 1-channel spec, and a corrupt image, exit 2', async (t) => {
  const dir = tmp();
  const cifar = path.join(dir, 'cifar');
  mkdirSync(cifar);
  const records = new Uint8Array(20 * 3073);
  for (let i = 0; i < 20; i++) records[i * 3073] = i % 10;
  writeFileSync(path.join(cifar, 'data_batch_1.bin'), records);
  writeFileSync(path.join(cifar, 'test_batch.bin'), records.subarray(0, 3073 * 2));
  const spec = writeSpec(dir, 'grey', { resolution: 32, channels: 1 });
  const res = await nas('train', '--arch', spec, '--dataset', `cifar10:${cifar}`, '--out', path.join(dir, 'run'));
  t.is(res.code, 2);
  t.regex(res.stderr, /takes 1-channel input but dataset cifar10:.* has 3 channels/);
  t.false(existsSync(path.join(dir, 'run')), 'a refused training leaves no directory');

  const folder = path.join(dir, 'folder');
  for (const name of ['a', 'b']) {
    mkdirSync(path.join(folder, name), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(path.join(folder, name, `${i}.png`), PNG.sync.write(new PNG({ width: 4, height: 4 })));
  }
  writeFileSync(path.join(folder, 'a', 'x.png'), 'garbage');
  const corrupt = await nas('train', '--arch', spec, '--dataset', `folder:${folder}`, '--out', path.join(dir, 'run2'));
  t.is(corrupt.code, 2);
  t.regex(corrupt.stderr, /x\.png: corrupt or unsupported image/);
});

test('nas train --resume with another spec exits 2', async (t) => {
  const dir = tmp();
  const out = path.join(dir, 'run');
  const first = await nasTrainTiny(writeSpec(dir, 'one'), out, { train: 64, validation: 32, test: 100 });
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /^test top-1 [\d.]+% \(on the first 100 test images\), validation top-1 /m);
  t.like(JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')), { testImages: 100, partialTest: true });
  const other = writeSpec(dir, 'two', { dropout: 0.3 });
  const res = await nas('train', '--arch', other, '--epochs', '2', '--train-samples', '64', '--out', out, '--resume');
  t.is(res.code, 2);
  t.regex(res.stderr, /checkpoint belongs to another spec/);
  const evalBad = await nas('eval', '--checkpoint', dir);
  t.is(evalBad.code, 2);
  t.regex(evalBad.stderr, /no checkpoint here/);
});

test('nas train --resume without --arch continues the run in --out: its spec, on the dataset it trained on', async (t) => {
  const dir = tmp();
  const out = path.join(dir, 'run');
  const folder = tinyImageFolder({ perClass: 12, side: 16 });
  const spec = writeSpec(dir, 'grey16', { resolution: 16, channels: 1, classes: 2 });
  const first = await nas(
    ...['train', '--arch', spec, '--dataset', `folder:${folder}`, '--epochs', '1', '--batch-size', '8', '--out', out],
    ...['--test-samples', '1000'],
  );
  t.is(first.code, 0, first.stderr);
  // More test images asked for than the split holds: the whole split, and not said to be part of it.
  const firstResult = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'));
  t.true(firstResult.testImages > 0 && firstResult.testImages < 1000, `${firstResult.testImages}`);
  t.is(firstResult.partialTest, undefined);
  t.notRegex(first.stdout, /on the first/);
  const resumed = await nas('train', '--out', out, '--resume', '--epochs', '2', '--json');
  t.is(resumed.code, 0, resumed.stderr);
  t.is(JSON.parse(lastLine(resumed.stdout)).epochs, 2);
  const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'));
  t.is(result.dataset, `folder:${folder}`);

  const noArch = await nas('train', '--out', path.join(dir, 'fresh'));
  t.is(noArch.code, 2);
  t.regex(noArch.stderr, /missing --arch/);
  const nothingToResume = await nas('train', '--out', path.join(dir, 'empty'), '--resume');
  t.is(nothingToResume.code, 2);
  t.regex(nothingToResume.stderr, /no checkpoint to resume from: start the run again with --arch/);
});

test('nas train of an LR-ASPP zoo spec without --resolution trains at 64 on the mosaics; nas eval finds the dataset it recorded', async (t) => {
  const out = path.join(tmp(), 'seg');
  const trained = await nas(
    ...['train', '--arch', 'lraspp-mobilenetv3-small-0.5', '--epochs', '1', '--batch-size', '8'],
    ...['--train-samples', '16', '--validation-samples', '8', '--out', out, '--json'],
  );
  t.is(trained.code, 0, trained.stderr);
  t.regex(trained.stderr, /training at 64x64, the size of fashion-mosaic's images \(the spec says 520/);
  const record = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'));
  t.is(record.dataset, 'fashion-mosaic-64');
  t.is(record.metric, 'mean IoU');

  const evaluated = await nas('eval', '--checkpoint', out, '--split', 'validation', '--json');
  t.is(evaluated.code, 0, evaluated.stderr);
  t.like(JSON.parse(lastLine(evaluated.stdout)), { metric: 'mean IoU', dataset: 'fashion-mosaic-64', split: 'validation' });
  const otherSize = await nas('eval', '--checkpoint', out, '--dataset', 'fashion-mosaic-128');
  t.is(otherSize.code, 2, otherSize.stderr);
  t.regex(otherSize.stderr, /fashion-mosaic-128: the mosaics are drawn at the model's input size, 64x64: use --dataset fashion-mosaic/);

  const tooSmall = await nas('train', '--arch', 'lraspp-mobilenetv3-small-0.5', '--resolution', '16', '--out', path.join(tmp(), 'small'));
  t.is(tooSmall.code, 2, tooSmall.stderr);
  t.regex(tooSmall.stderr, /fashion-mosaic needs an input of at least 28x28/);
});

test("nas train --out a search run or a supernet search's best-weights exits 2 naming what it holds, and writes nothing there", async (t) => {
  const search = await startedSearchRun(path.join(tmp(), 'search'));
  const before = filesUnder(search.dir);
  for (const extra of [[], ['--force'], ['--resume']]) {
    const res = await nasTrainTiny(writeSpec(tmp(), 'tiny'), search.dir, { train: 64, validation: 32 }, ...extra);
    t.is(res.code, 2, res.stderr);
    t.is(
      lastLine(res.stderr),
      `nas: ${search.dir} holds a search run (its run.json is of kind "search-run"), not a training run: choose another --out`,
    );
    t.deepEqual(filesUnder(search.dir), before);
    t.notThrows(() => search.readRecord(), 'the search can still be resumed');
  }

  await prepareBackend('auto');
  const bestWeights = await inheritedCheckpoint(path.join(tmp(), 'best-weights'));
  const inherited = filesUnder(bestWeights);
  for (const args of [['--arch', writeSpec(tmp(), 'tiny')], ['--resume']]) {
    const res = await nas('train', ...args, '--out', bestWeights);
    t.is(res.code, 2, res.stderr);
    t.regex(
      lastLine(res.stderr),
      /holds a supernet member's inherited weights \(its \S*state\.json is of kind "inherited-weights"\), not a training run: choose another --out; nas train --init-from (\S+) --arch \1\/spec\.json fine-tunes them, nas eval --checkpoint \1 scores them$/,
    );
    t.deepEqual(filesUnder(bestWeights), inherited);
  }
});

test('nas train --resume --epochs below the epochs the run trained exits 2 saying how many, and keeps its result', async (t) => {
  const dir = tmp();
  const out = path.join(dir, 'run');
  const trained = await nasTrainTiny(writeSpec(dir, 'tiny'), out, { train: 64, validation: 32 }, '--epochs', '2');
  t.is(trained.code, 0, trained.stderr);
  const result = readFileSync(path.join(out, 'result.json'), 'utf8');
  const shorter = await nas('train', '--out', out, '--resume', '--epochs', '1');
  t.is(shorter.code, 2, shorter.stderr);
  t.is(lastLine(shorter.stderr), `nas: --epochs 1 is below the 2 epochs already trained in ${out}: give --epochs 2 or more`);
  t.is(readFileSync(path.join(out, 'result.json'), 'utf8'), result);
});

test('a training refused in setup (a class count the dataset lacks) leaves no directory it made, and a run it was to replace as it was', async (t) => {
  const dir = tmp();
  const spec = writeSpec(dir, 'tiny');
  const wrongClasses = ['--classes', '5'];
  const fresh = path.join(dir, 'fresh');
  const refused = await nasTrainTiny(spec, fresh, { train: 64, validation: 32 }, ...wrongClasses);
  t.is(refused.code, 2, refused.stderr);
  t.is(lastLine(refused.stderr), 'nas: the spec has 5 classes but fashion-mnist has 10: use --classes 10');
  t.false(existsSync(fresh));

  const existing = path.join(dir, 'existing');
  mkdirSync(existing);
  t.is((await nasTrainTiny(spec, existing, { train: 64, validation: 32 }, ...wrongClasses)).code, 2);
  t.deepEqual(filesUnder(existing), {}, 'a directory that was there stays, empty');

  const trained = path.join(dir, 'trained');
  t.is((await nasTrainTiny(spec, trained, { train: 64, validation: 32 })).code, 0);
  const before = filesUnder(trained);
  t.is((await nasTrainTiny(spec, trained, { train: 64, validation: 32 }, '--force', ...wrongClasses)).code, 2);
  t.deepEqual(filesUnder(trained), before, '--force replaces nothing of a run when the new one is refused');
});
