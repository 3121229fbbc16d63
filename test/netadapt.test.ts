import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError, InterruptedError } from '../src/common/errors.js';
import { predictLatency } from '../src/latency-model/predict/predict.js';
import { tableHash } from '../src/latency-model/predict/table-ref.js';
import { choose, runNetAdapt, smallestReachable } from '../src/netadapt/netadapt.js';
import { NetAdaptRunDir } from '../src/netadapt/netadapt-run.js';
import { generateProposals, widthGroups } from '../src/netadapt/proposals.js';
import { type ArchSpec, type BneckBlock, parseArchSpec } from '../src/search-space/archspec.js';
import { specCost, unitCost } from '../src/search-space/cost.js';
import { readArchSpec, withInput } from '../src/search-space/io.js';
import { resolve } from '../src/search-space/resolve.js';
import { zooNames, zooSpec } from '../src/search-space/zoo/index.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { buildModel } from '../src/trainer/build-model.js';
import { assignMatchingWeights, type NamedWeight } from '../src/trainer/checkpoint.js';
import { trainConfig } from '../src/trainer/config.js';
import { inheritWeights, weightLayout } from '../src/trainer/inherit.js';
import { tf } from '../src/trainer/tf.js';
import { train } from '../src/trainer/train.js';
import { InProcessTrainer } from '../src/trainer/training-pool.js';
import { specTable } from './helpers/tables.js';
import { syntheticDataset, tinySpec } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-netadapt-'));

test.before(async () => {
  await prepareBackend('auto');
});

test('the weight layout names and shapes every weight of every zoo model', (t) => {
  for (const name of zooNames()) {
    const spec = zooSpec(name, { resolution: 32, classes: 10 });
    const model = buildModel(spec);
    const layout = new Map(weightLayout(spec).map((w) => [w.name, w.shape.join('x')]));
    t.is(layout.size, model.weights.length, name);
    for (const w of model.weights) t.is(layout.get(w.originalName), (w.shape as number[]).join('x'), `${name} ${w.originalName}`);
    model.dispose();
  }
});

/** NetAdapt settings of the tests whose seed is a 16 px tiny spec with a table lacking one of its ops: a 20% cut in 10% steps. */
const SHRINK_16PX = {
  targetRatio: 0.8,
  deltaRatio: 0.1,
  deltaDecay: 1,
  metric: 'ratio' as const,
  latencyResolution: 16,
  latencyClasses: 10,
};

/** A spec's table without the entry of its first bottleneck: a table that lacks one of the seed's ops. */
function lackingOneBottleneck(full: ReturnType<typeof specTable>): ReturnType<typeof specTable> {
  const [dropped] = Object.keys(full.entries).filter((k) => k.startsWith('bneck'));
  return { ...full, entries: Object.fromEntries(Object.entries(full.entries).filter(([k]) => k !== dropped)) };
}

function weightsOf(model: tf.LayersModel): NamedWeight[] {
  return model.weights.map((w) => ({
    name: w.originalName,
    shape: w.shape as number[],
    values: w.read().dataSync().slice() as Float32Array,
  }));
}

/** Zeroes channels of a space so that they carry nothing: removing them must not change the outputs. */
function silence(weights: NamedWeight[], producers: { name: string; axis: number }[], bns: string[], channels: number[]) {
  const byName = new Map(weights.map((w) => [w.name, w]));
  for (const { name, axis } of producers) {
    const w = byName.get(name)!;
    const inner = w.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    w.values.forEach((_, i) => {
      if (channels.includes(Math.floor(i / inner) % w.shape[axis]!)) w.values[i] = 0;
    });
  }
  for (const bn of bns)
    for (const p of ['beta', 'moving_mean'])
      channels.forEach((c) => {
        byName.get(`${bn}/${p}`)!.values[c] = 0;
      });
}

test.serial("inheritance keeps the strongest filters: dropping silent channels leaves the network's function unchanged", (t) => {
  const spec = tinySpec({ resolution: 16, channels: 3, classes: 5 });
  const model = buildModel(spec, { seed: 2 });
  const weights = weightsOf(model);
  // b1's expansion (32 wide): silence 8 interleaved channels.
  const silentExp = [1, 4, 9, 13, 20, 21, 27, 31];
  silence(weights, [{ name: 'b1.expand/kernel', axis: 3 }], ['b1.expand_bn', 'b1.dw_bn'], silentExp);
  // The group stem + b1 (16 wide, b1 adds into the stem's output): silence 8 channels in both producers.
  const silentGroup = [0, 3, 5, 6, 10, 11, 12, 15];
  silence(
    weights,
    [
      { name: 'stem/kernel', axis: 3 },
      { name: 'b1.project/kernel', axis: 3 },
    ],
    ['stem_bn', 'b1.project_bn'],
    silentGroup,
  );
  assignMatchingWeights(model, weights, 'test');

  const narrow = parseArchSpec({
    ...spec,
    stem: { ...spec.stem, out: 8 },
    blocks: spec.blocks.map((b, i) => (i === 0 ? { ...(b as BneckBlock), exp: 24, out: 8 } : b)),
  });
  const inherited = inheritWeights(spec, weights, narrow);
  t.deepEqual(inherited.fresh, []);
  t.deepEqual(
    inherited.kept['b1.expand'],
    Array.from({ length: 32 }, (_, i) => i).filter((i) => !silentExp.includes(i)),
  );
  t.deepEqual(
    inherited.kept['stem'],
    Array.from({ length: 16 }, (_, i) => i).filter((i) => !silentGroup.includes(i)),
  );
  const small = buildModel(narrow, { seed: 9 });
  assignMatchingWeights(small, inherited.weights, 'test');
  const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 4);
  const a = (model.predict(x) as tf.Tensor).dataSync();
  const b = (small.predict(x) as tf.Tensor).dataSync();
  a.forEach((v, i) => {
    t.true(Math.abs(v - b[i]!) < 1e-4 * (1 + Math.abs(v)), `${i}: ${v} vs ${b[i]}`);
  });
  tf.dispose([x]);
  model.dispose();
  small.dispose();
});

/** A latency model for tests: milliseconds = MAdds / 1e6 + 0.01 per op. */
const maddsLatency = (spec: ArchSpec) => resolve(spec).units.reduce((s, u) => s + 0.01 + unitCost(u).madds / 1e6, 0);

test('proposals: each kind present, every one valid and at least delta faster, widths multiples of 8', (t) => {
  const spec = zooSpec('mobilenetv3-small-1.0', { resolution: 64 });
  const current = maddsLatency(spec);
  const delta = 0.01 * current;
  const proposals = generateProposals(spec, current, delta, maddsLatency, (kind, target) => `p-${kind}-${target[0]}`);
  t.deepEqual([...new Set(proposals.map((p) => p.kind))].sort(), ['bottleneck', 'expansion', 'remove-layer']);
  for (const p of proposals) {
    t.true(p.latencyMs <= current - delta + 1e-9, p.description);
    t.notThrows(() => parseArchSpec(p.spec));
  }
  const stemGroup = proposals.find((p) => p.kind === 'bottleneck' && p.target[0] === 'stem');
  t.truthy(stemGroup, 'the stem shares its width with no residual block in V3-Small but is still a bottleneck of its own');
  const group = widthGroups(spec).find((g) => g.members.length === 2)!;
  t.deepEqual(
    group.members.map((m) => spec.blocks[m]!.id),
    ['b5', 'b6'],
  );
  const grouped = proposals.find((p) => p.kind === 'bottleneck' && p.target.includes('b5'))!;
  t.deepEqual(grouped.target, ['b4', 'b5', 'b6']);
  t.true(grouped.spec.blocks.slice(3, 6).every((b) => b.out === grouped.spec.blocks[3]!.out && b.out % 8 === 0 && b.out < 40));
  t.true(proposals.filter((p) => p.kind === 'remove-layer').every((p) => p.spec.blocks.length === spec.blocks.length - 1));
  const smallest = smallestReachable(spec);
  t.true(smallest.stem.out === 8 && smallest.blocks.every((b) => b.out === 8 && (b.type !== 'bneck' || b.exp === 8)));
  t.deepEqual(
    smallest.blocks.map((b) => b.id),
    ['b1', 'b2', 'b4', 'b7', 'b9'],
    'the stride-2 blocks and b7 (40 -> 48) remain',
  );
  t.true(specCost(smallest).madds < specCost(spec).madds);
});

test('selection: dAcc/|dLatency| (MobileNetV3) or plain accuracy (NetAdapt); cuts count up to the target', (t) => {
  const r = (latencyMs: number, accuracy: number) => ({
    kind: 'expansion' as const,
    target: ['b1'],
    description: '',
    latencyMs,
    accuracy,
    dir: '',
    error: null,
  });
  const records = [r(9, 0.8), r(5, 0.78), r(8, 0.7)];
  const current = { latencyMs: 10, accuracy: 0.82 };
  t.is(choose(records, current, 'ratio'), 1); // -0.02/5 beats -0.02/1
  t.is(choose(records, current, 'accuracy'), 0);
  // With the target at 9.5 ms every proposal ends the run: the 4.5 ms that 5 ms saves beyond it count for nothing.
  t.is(choose(records, current, 'ratio', 9.5), 0);
  // Short of the target a proposal keeps its ratio: 9.5 ms (-0.01/0.5) beats reaching 9 ms (-0.03/1).
  t.is(choose([r(9.5, 0.81), r(9, 0.79)], current, 'ratio', 9), 0);
  t.is(choose([r(9.5, 0.8), r(9, 0.79)], current, 'ratio', 9), 1);
  // A failed fine-tune is never chosen; none left, nothing is.
  const failed = { ...r(5, 0), error: 'diverged' };
  t.is(choose([failed, r(9, 0.8)], current, 'ratio'), 1);
  t.is(choose([failed, failed], current, 'accuracy'), -1);
});

test.serial('NetAdapt reaches the target, resumes without redoing finished steps, and refuses bad targets and checkpoints', async (t) => {
  const dir = tmp();
  const dataset = syntheticDataset({ count: 128, side: 16, channels: 3, classes: 10 });
  const seed = tinySpec({ resolution: 16, channels: 3, name: 'seed' });
  const seedRun = path.join(dir, 'seed');
  await train({ spec: seed, dataset, config: trainConfig({ epochs: 1, batchSize: 16 }), outDir: seedRun, evaluateTest: false });
  const finetune = trainConfig({ epochs: 1, trainSamples: 32, batchSize: 16, validationSamples: 32, warmupEpochs: 0 });
  const table = specTable(seed);
  const settings = {
    targetRatio: 0.7,
    deltaRatio: 0.05,
    deltaDecay: 1,
    metric: 'ratio' as const,
    latencyResolution: 16,
    latencyClasses: 10,
  };
  const base = { seed, seedCheckpoint: seedRun, table, settings, dataset, finetune };

  const out = path.join(dir, 'run');
  const controller = new AbortController();
  let seen = 0;
  const interrupted = new InProcessTrainer(dataset, finetune);
  await t.throwsAsync(
    runNetAdapt({
      ...base,
      evaluator: interrupted,
      outDir: out,
      signal: controller.signal,
      onProgress: (p) => p.step === 2 && ++seen === 1 && controller.abort(),
    }),
    { instanceOf: InterruptedError, message: /interrupted in step 2: .*--resume/ },
  );
  // As the CLI closes its pool: the fine-tune under way stops (and the queued ones never start)
  // before the resumed run trains into the same proposal directories.
  await interrupted.close();
  const partial = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
  t.is(partial.steps.length, 1);
  t.true(partial.wallSeconds > 0, 'the interrupted session recorded its wall time');
  const counting = new InProcessTrainer(dataset, finetune);
  let trained = 0;
  const evaluator = {
    evaluate: (...a: Parameters<InProcessTrainer['evaluate']>) => {
      trained++;
      return counting.evaluate(...a);
    },
    close: async () => undefined,
  };
  const result = await runNetAdapt({ ...base, evaluator, outDir: out, resume: true });
  t.true(result.finalLatencyMs <= result.history.targetMs);
  // The table holds the seed's ops only: the narrower widths of the proposals are estimated, and flagged.
  t.true(result.history.steps.every((s) => s.proposals.some((p) => (p.estimatedOps ?? 0) > 0)));
  t.is(result.history.steps[0]!.chosen, partial.steps[0].chosen, 'step 1 was not redone');
  t.true(result.history.wallSeconds! > partial.wallSeconds, "the resumed run's wall time adds to the interrupted session's");
  t.true(result.history.steps.length >= 2);
  t.true(
    trained < result.history.steps.slice(1).reduce((n, s) => n + s.proposals.length, 0) + 1,
    'the interrupted step reused its finished proposal',
  );
  for (const file of ['final.json', 'history.json', 'netadapt.svg']) t.true(existsSync(path.join(out, file)), file);
  t.true(existsSync(path.join(result.finalCheckpoint, 'model.json')));
  t.true(
    result.history.steps.every(
      (s, i) => i === 0 || s.before.latencyMs === result.history.steps[i - 1]!.proposals[result.history.steps[i - 1]!.chosen]!.latencyMs,
    ),
  );

  const fresh = () => new InProcessTrainer(dataset, finetune);
  t.is(result.history.schemaVersion, 2);
  t.like(result.history.tableRef, { name: 'synthetic', file: null, hash: tableHash(table), device: 'synthetic', runtime: 'none' });
  const [firstKey, firstEntry] = Object.entries(table.entries)[0]!;
  const changed = { ...table, entries: { ...table.entries, [firstKey]: { ...firstEntry, median: firstEntry.median + 1 } } };
  await t.throwsAsync(runNetAdapt({ ...base, table: changed, evaluator: fresh(), outDir: out, resume: true }), {
    instanceOf: InputError,
    message: /was priced by synthetic \(synthetic, none; hash [0-9a-f]{16}\), and synthetic now has hash [0-9a-f]{16}: restore that table/,
  });
  t.is(result.history.dataset, dataset.name);
  const otherData = { ...dataset, name: 'cifar10:/elsewhere' };
  await t.throwsAsync(runNetAdapt({ ...base, dataset: otherData, evaluator: fresh(), outDir: out, resume: true }), {
    instanceOf: InputError,
    message: /fine-tunes on synthetic, not cifar10:\/elsewhere: resume with --dataset synthetic, or choose a new --out/,
  });
  // A history written before tables were labelled (version 1, no tableRef) still reads; a version 2 one must name its table.
  const old = new NetAdaptRunDir(path.join(dir, 'old'));
  mkdirSync(old.dir);
  const { tableRef: _ref, ...unlabelled } = partial;
  writeFileSync(old.file('history'), JSON.stringify({ ...unlabelled, schemaVersion: 1 }));
  t.is(old.readHistory().tableRef, undefined);
  writeFileSync(old.file('history'), JSON.stringify({ ...unlabelled, schemaVersion: 2 }));
  t.throws(() => old.readHistory(), { instanceOf: InputError, message: /\$\.tableRef: missing/ });
  await t.throwsAsync(
    runNetAdapt({
      ...base,
      settings: { ...settings, targetRatio: undefined, targetMs: 1e9 },
      evaluator: fresh(),
      outDir: path.join(dir, 'a'),
    }),
    { instanceOf: InputError, message: /not below the seed's/ },
  );
  await t.throwsAsync(
    runNetAdapt({
      ...base,
      settings: { ...settings, targetRatio: undefined, targetMs: 1e-6 },
      evaluator: fresh(),
      outDir: path.join(dir, 'b'),
    }),
    { instanceOf: InputError, message: /below what any proposal can reach/ },
  );
  const other = tinySpec({ resolution: 16, channels: 3, name: 'other', dropout: 0.3 });
  await t.throwsAsync(runNetAdapt({ ...base, seed: other, evaluator: fresh(), outDir: path.join(dir, 'c') }), {
    instanceOf: InputError,
    message: /the checkpoint was not trained from --arch other: dropout: 0\.3 vs 0 \(/,
  });
  const missing = { ...table, entries: Object.fromEntries(Object.entries(table.entries).slice(1)) };
  await t.throwsAsync(runNetAdapt({ ...base, table: missing, evaluator: fresh(), outDir: path.join(dir, 'd') }), {
    instanceOf: InputError,
    message: /the seed seed: table synthetic has no entry for 1 of its ops \(.*\): profile them \(nas profile .*--latency-missing estimate/,
  });
  // A phone's imported table cannot be completed by profiling this machine: only the estimate is offered.
  const phone = { ...missing, name: 'phone', source: { ...missing.source, importedFrom: 'phone.yaml' } };
  const refused = await t.throwsAsync(runNetAdapt({ ...base, table: phone, evaluator: fresh(), outDir: path.join(dir, 'e') }), {
    instanceOf: InputError,
    message:
      /the seed seed: table phone has no entry for 1 of its ops \(.*\): it was measured on .*, which profiling this machine cannot add to: estimate them \(--latency-missing estimate\)$/,
  });
  t.false(refused!.message.includes('nas profile'));
});

test.serial("NetAdapt on a table that lacks the widths it produces and one of the seed's ops runs on the estimator", async (t) => {
  const dir = tmp();
  const dataset = syntheticDataset({ count: 64, side: 16, channels: 3, classes: 10 });
  const seed = tinySpec({ resolution: 16, channels: 3, name: 'seed' });
  const seedRun = path.join(dir, 'seed');
  await train({ spec: seed, dataset, config: trainConfig({ epochs: 1, batchSize: 16 }), outDir: seedRun, evaluateTest: false });
  const finetune = trainConfig({ epochs: 1, trainSamples: 16, batchSize: 16, validationSamples: 16, warmupEpochs: 0 });
  const full = specTable(seed);
  const table = lackingOneBottleneck(full);
  const settings = { ...SHRINK_16PX, latencyMissing: 'estimate' as const };
  const result = await runNetAdapt({
    seed,
    seedCheckpoint: seedRun,
    table,
    settings,
    dataset,
    finetune,
    evaluator: new InProcessTrainer(dataset, finetune),
    outDir: path.join(dir, 'run'),
  });
  t.true(result.finalLatencyMs <= result.history.targetMs);
  const expected = predictLatency(withInput(seed, { resolution: 16, classes: 10 }), full).totalMs;
  t.true(
    Math.abs(result.history.seedLatencyMs / expected - 1) < 0.05,
    `the estimated seed: ${result.history.seedLatencyMs} vs ${expected}`,
  );
  const proposals = result.history.steps.flatMap((s) => s.proposals);
  t.true(proposals.every((p) => p.estimatedOps !== undefined));
  t.true(
    proposals.some((p) => p.estimatedOps! >= 1),
    'proposals with widths the table lacks are flagged',
  );
  t.like(result.history.settings, { latencyMissing: 'estimate' });
});

test.serial(
  "NetAdapt's default latency-missing (auto) prices a searched seed as its search did, and its specs keep the seed's deployment but not its choices",
  async (t) => {
    const dir = tmp();
    const dataset = syntheticDataset({ count: 64, side: 16, channels: 3, classes: 10 });
    const plain = tinySpec({ resolution: 16, channels: 3, name: 'searched' });
    const full = specTable(plain);
    const table = lackingOneBottleneck(full);
    // As a search with latency.missing "estimate" writes best.json: its choices, and how it was priced.
    const deployment = { resolution: 16, classes: 10, table: table.name, missing: 'estimate' };
    const seed = parseArchSpec({ ...plain, provenance: { ...plain.provenance, choices: [0, 1, 0], deployment } });
    const seedRun = path.join(dir, 'seed');
    await train({ spec: seed, dataset, config: trainConfig({ epochs: 1, batchSize: 16 }), outDir: seedRun, evaluateTest: false });
    const finetune = trainConfig({ epochs: 1, trainSamples: 16, batchSize: 16, validationSamples: 16, warmupEpochs: 0 });
    const settings = SHRINK_16PX;
    const request = { seed, seedCheckpoint: seedRun, table, settings, dataset, finetune };
    // Before, auto refused the seed (table synthetic has no entry for 1 of its ops) unless --latency-missing estimate.
    const result = await runNetAdapt({ ...request, evaluator: new InProcessTrainer(dataset, finetune), outDir: path.join(dir, 'run') });
    t.is(
      result.history.seedLatencyMs,
      predictLatency(seed, table, { estimate: true }).totalMs,
      "the seed's latency as the search priced it",
    );
    t.true(result.finalLatencyMs <= result.history.targetMs);
    t.true(result.history.steps.flatMap((s) => s.proposals).some((p) => (p.estimatedOps ?? 0) > 0));
    // final.json and the chosen proposals: the seed's deployment (as NetAdapt priced them), and no claim to the seed's choices.
    const final = readArchSpec(path.join(dir, 'run', 'final.json'));
    for (const spec of [final, ...result.history.steps.map((s) => s.spec)]) {
      t.deepEqual((spec.provenance as { deployment?: unknown }).deployment, deployment, spec.name);
      t.false('choices' in spec.provenance, spec.name);
    }
    t.is(
      predictLatency(final, table, { estimate: true }).totalMs,
      result.finalLatencyMs,
      "priced again as its provenance says, the run's number",
    );
    // An explicit policy is not overridden by the seed's.
    await t.throwsAsync(
      runNetAdapt({
        ...request,
        settings: { ...settings, latencyMissing: 'interpolate' },
        evaluator: new InProcessTrainer(dataset, finetune),
        outDir: path.join(dir, 'explicit'),
      }),
      { instanceOf: InputError, message: /the seed searched: table synthetic has no entry for 1 of its ops/ },
    );
  },
);
