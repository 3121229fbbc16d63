import test from 'ava';
import { DEFAULT_CONTROLLER } from '../src/controller/controller-settings.js';
import { createPolicy, LstmPolicy, MIN_SHARD, shardRanges } from '../src/controller/policy.js';
import { ShardPool } from '../src/controller/shard-pool.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { relativeError } from './helpers/numeric.js';

test.before(async () => {
  await prepareBackend('auto');
});

const counts = [3, 2, 4, 2, 3, 2];
const settings = { ...DEFAULT_CONTROLLER, hidden: 8, embedding: 4 };
const score = (c: number[]) => c.filter((v) => v === 0).length / c.length;

test('batches split into contiguous shards only when every thread gets MIN_SHARD sequences', (t) => {
  t.deepEqual(shardRanges(2 * MIN_SHARD - 1, 2), [[0, 2 * MIN_SHARD - 1]]);
  t.deepEqual(shardRanges(2 * MIN_SHARD, 2), [
    [0, MIN_SHARD],
    [MIN_SHARD, 2 * MIN_SHARD],
  ]);
  t.deepEqual(shardRanges(1000, 3), [
    [0, 333],
    [333, 667],
    [667, 1000],
  ]);
  t.deepEqual(shardRanges(10_000, 1), [[0, 10_000]]);
});

for (const algorithm of ['ppo', 'reinforce'] as const) {
  test.serial(`${algorithm}: an update shared with a worker thread gives the weights of one computed here`, async (t) => {
    const sharded = createPolicy(algorithm, counts, { ...settings, workers: 1 }, 3);
    const single = createPolicy(algorithm, counts, { ...settings, workers: 0 }, 3);
    try {
      const batch = await sharded.sample(2 * MIN_SHARD, 11);
      t.is(batch.choices.length, 2 * MIN_SHARD);
      t.deepEqual(await sharded.sample(2 * MIN_SHARD, 11), batch, 'the same seed draws the same sharded batch');
      for (const seq of batch.choices)
        seq.forEach((token, step) => {
          t.true(token >= 0 && token < counts[step]!);
        });
      t.notDeepEqual(batch.choices.slice(0, MIN_SHARD), batch.choices.slice(MIN_SHARD), 'the shards draw different sequences');
      const rewards = batch.choices.map(score);
      const [a, b] = [await sharded.update(batch, rewards), await single.update(batch, rewards)];
      t.true(Math.abs(a.loss - b.loss) < 1e-5 * Math.max(1, Math.abs(b.loss)), `loss ${a.loss} vs ${b.loss}`);
      const [wa, wb] = [(await sharded.getState()).weights, (await single.getState()).weights];
      for (const name of Object.keys(wb)) {
        const err = relativeError(Float32Array.from(wa[name]!), Float32Array.from(wb[name]!));
        t.true(err < 1e-4, `${name}: relative error ${err}`);
      }
    } finally {
      sharded.dispose();
      single.dispose();
    }
  });
}

test.serial('when a shard worker cannot start, its shards run here with the same seeds and the same result', async (t) => {
  const broken = new LstmPolicy('ppo', counts, { ...settings, workers: 1 }, 3, (shape) => new ShardPool(shape, 'no-such-backend'));
  const single = createPolicy('ppo', counts, { ...settings, workers: 1 }, 3);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const batch = await broken.sample(2 * MIN_SHARD, 11);
    t.deepEqual(batch, await single.sample(2 * MIN_SHARD, 11), 'the shard drawn here equals the one a worker draws');
    const rewards = batch.choices.map(score);
    await broken.update(batch, rewards);
    await single.update(batch, rewards);
    const [wa, wb] = [(await broken.getState()).weights, (await single.getState()).weights];
    for (const name of Object.keys(wb)) t.true(relativeError(Float32Array.from(wa[name]!), Float32Array.from(wb[name]!)) < 1e-4, name);
    await new Promise((resolve) => setImmediate(resolve));
    t.true(
      warnings.some((w) => w.includes('controller shard workers disabled')),
      warnings.join('; '),
    );
  } finally {
    process.off('warning', onWarning);
    broken.dispose();
    single.dispose();
  }
});
