import { existsSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { DivergedError, InputError, InterruptedError } from '../src/common/errors.js';
import { readJsonFile } from '../src/common/json-io.js';
import { derive } from '../src/common/rng.js';
import type { Experiment } from '../src/controller/experiment.js';
import { reward } from '../src/controller/reward.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import { setupSearch } from '../src/controller/setup.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { deployedLatencyMs } from '../src/latency-model/predict/predict.js';
import { fastestLatency, withEstimatedSpaceKeys } from '../src/latency-model/predict/space-latency.js';
import { ChoiceSpace } from '../src/search-space/choice-space.js';
import { readArchSpec } from '../src/search-space/io.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { specHash } from '../src/search-space/spec-hash.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { fairMembers } from '../src/supernet/fair.js';
import { finetuneTopCandidates } from '../src/supernet/finetune.js';
import { drawCandidates, type RankedCandidate } from '../src/supernet/ranking.js';
import { sandwichLoss, sandwichMembers } from '../src/supernet/sandwich.js';
import { pathWarmupWeight, proxyBatchers, runSupernetSearch, type SupernetProgress, warmupMembers } from '../src/supernet/search.js';
import { supernetSettings } from '../src/supernet/settings.js';
import { supernetOptimizer, supernetTrainingStep } from '../src/supernet/step.js';
import { BatchNormStats, Supernet } from '../src/supernet/supernet.js';
import { SUPERNET_RUN_FILES, SupernetRunDir } from '../src/supernet/supernet-run.js';
import { openTrainedSupernet } from '../src/supernet/trained.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { buildModel } from '../src/trainer/build-model.js';
import {
  assignWeights,
  loadCheckpoint,
  readCheckpointDataset,
  readCheckpointSpec,
  resolveCheckpointDir,
} from '../src/trainer/checkpoint.js';
import { trainConfig } from '../src/trainer/config.js';
import { loadDataset } from '../src/trainer/data/index.js';
import { tf } from '../src/trainer/tf.js';
import { TrainRunDir } from '../src/trainer/train-run.js';
import { trainForEvaluation } from '../src/trainer/training-pool.js';
import { perLayerSpaceDefinition, tinyExperiment, tinySearchFiles, tinySpaceDefinition } from './helpers/search.js';
import { randomBatch, supernetGradientParity, supernetParity } from './helpers/supernet.js';

test.before(async () => {
  await prepareBackend('auto');
});

test('a member of the tiny space computes the same logits in the supernet and as a model built from its spec with inherited weights', (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 7 });
  const rng = derive(1, 'members');
  const everyDsconv = space.choicePoints.map(() => 0); // the tiny space's first op, dsconv, in both stages
  for (const choices of [everyDsconv, ...Array.from({ length: 6 }, () => space.randomChoices(rng))]) {
    const { diff, scale } = supernetParity(supernet, choices, 1);
    t.true(diff <= 1e-4 * Math.max(1, scale), `member ${choices.join('')}: max |difference| ${diff} (logit scale ${scale})`);
  }
  supernet.dispose();
});

test('the mobilenetv3 space: the widest and a random member match their built models', (t) => {
  const space = getChoiceSpace('mobilenetv3');
  const supernet = new Supernet(space, { resolution: 32, classes: 10, seed: 3 });
  const widest = space.choicePoints.map((c) => c.options.length - 1);
  for (const choices of [widest, space.randomChoices(derive(5, 'v3'))]) {
    const { diff, scale, blocks } = supernetParity(supernet, choices, 3);
    t.log(`member ${choices.join('')} (${blocks} blocks): max |difference| ${diff.toExponential(2)}, logit scale ${scale.toFixed(3)}`);
    t.true(diff <= 1e-4 * Math.max(1, scale));
  }
  supernet.dispose();
});

test('a member trains through the supernet as its built model does: the same loss and gradients in training mode (conv, dsconv, bottleneck, residuals off)', (t) => {
  const space = getChoiceSpace('mobilenetv3');
  const supernet = new Supernet(space, { resolution: 32, classes: 10, seed: 3 });
  const rng = derive(8, 'gradients');
  const opsOf = (choices: number[]) => new Set(supernet.member(choices).blocks.map((b) => b.type));
  // A block that could add its input (stride 1, width kept) and does not.
  const plain = (choices: number[]) => {
    const spec = supernet.member(choices);
    return spec.blocks.some((b, i) => !b.residual && b.stride === 1 && b.out === (i === 0 ? spec.stem.out : spec.blocks[i - 1]!.out));
  };
  // Random members until, between them, they use every op family and switch a residual off; two at least.
  const members: number[][] = [];
  const seen = new Set<string>();
  while ((members.length < 2 || seen.size < 3 || !members.some(plain)) && members.length < 10) {
    const choices = space.randomChoices(rng);
    members.push(choices);
    for (const op of opsOf(choices)) seen.add(op);
  }
  t.is(seen.size, 3);
  t.true(members.some(plain));
  for (const choices of members) {
    const { supernetLoss, modelLoss, worstRelativeDifference } = supernetGradientParity(supernet, choices, 3);
    t.true(Math.abs(supernetLoss - modelLoss) <= 1e-5 * modelLoss, `member ${choices.join('')}: loss ${supernetLoss} vs ${modelLoss}`);
    t.true(worstRelativeDifference <= 1e-3, `member ${choices.join('')}: gradients differ by ${worstRelativeDifference} of their scale`);
  }
  t.log(`${members.length} members, ops ${[...new Set(members.flatMap((m) => [...opsOf(m)]))].join(', ')}`);
  supernet.dispose();
});

for (const { space: name, below, above } of [
  { space: 'mobilenetv3-small-ibn', below: 'mobilenetv3-small-0.5', above: 'mobilenetv3-small-1.0' },
  { space: 'mobilenetv3-small-wide', below: 'mobilenetv3-small-1.0', above: 'mobilenetv3-large-0.75' },
  { space: 'mobilenetv3-small-stem', below: 'mobilenetv3-small-0.5', above: 'mobilenetv3-small-1.0' },
  { space: 'mobilenetv3-small-wide-stem', below: 'mobilenetv3-small-1.0', above: 'mobilenetv3-large-0.75' },
  { space: 'mobilenetv3-ibn-stem', below: 'mobilenetv3-large-0.75', above: 'mobilenetv3-large-1.0' },
]) {
  test(`the ${name} space spans ${below} to ${above} on the embedded table, and its widest member matches its built model`, (t) => {
    const space = getChoiceSpace(name);
    const deployment = { resolution: 224, classes: 1000, missing: 'estimate' as const };
    const { table } = withEstimatedSpaceKeys(space, loadTable('default'), deployment.resolution, deployment.classes);
    const zooMs = (zooName: string) => deployedLatencyMs(zooSpec(zooName), table, deployment);
    const widest = space.choicePoints.map((c) => c.options.length - 1);
    const slowestMs = deployedLatencyMs(space.materialise(widest, { resolution: 224 }), table, deployment);
    const fastestMs = fastestLatency(space, table, deployment.resolution, deployment.classes);
    t.log(
      `members ${fastestMs.toFixed(2)}-${slowestMs.toFixed(2)} ms; ${below} ${zooMs(below).toFixed(2)}, ${above} ${zooMs(above).toFixed(2)}`,
    );
    t.true(fastestMs < zooMs(below));
    t.true(slowestMs > zooMs(above));
    const supernet = new Supernet(space, { resolution: 32, classes: 10, seed: 4 });
    const { diff, scale } = supernetParity(supernet, widest, 3);
    t.true(diff <= 1e-4 * Math.max(1, scale), `max |difference| ${diff}`);
    supernet.dispose();
  });
}

test('a space whose skip switch makes members without residuals is flagged (the search warns when the residual warm-up is off): mobilenetv3, not mobilenetv3-ibn', (t) => {
  const flagged = (name: string) => {
    const supernet = new Supernet(getChoiceSpace(name), { resolution: 32, classes: 10, seed: 0 });
    const choices = supernet.plainMemberChoices();
    supernet.dispose();
    return choices;
  };
  t.deepEqual(
    flagged('mobilenetv3'),
    [0, 1, 2, 3, 4, 5, 6].map((s) => `stages[${s}].skip`),
  );
  t.deepEqual(flagged('mobilenetv3-ibn'), []);
});

test('residual warm-up: a member without residuals at weight 1 computes what the member with them does, at weight 0 the plain member', (t) => {
  const space = getChoiceSpace('mobilenetv3');
  const supernet = new Supernet(space, { resolution: 32, classes: 10, seed: 4 });
  const member = space.randomChoices(derive(9, 'residual-warmup'));
  const withSkip = (on: boolean) => member.map((v, i) => (space.choicePoints[i]!.field === 'skip' ? Number(on) : v));
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
  const logits = (choices: number[], plainResidual: number) =>
    tf.tidy(() => supernet.forward(choices, x, { kind: 'batch' }, { dropoutSeed: 1, plainResidual }).dataSync());
  const maxDiff = (a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array) =>
    Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
  const residual = logits(withSkip(true), 0);
  const plain = logits(withSkip(false), 0);
  t.true(maxDiff(logits(withSkip(false), 1), residual) < 1e-5);
  t.true(maxDiff(logits(withSkip(false), 1e-9), plain) < 1e-4);
  t.true(maxDiff(plain, residual) > 1e-3, 'the residuals change this member');
  x.dispose();
  supernet.dispose();
});

test('supernet.pathWarmupShare: the op and residual warm-ups fall from 1 to 0 over that share of the warm-up, then members train as they are', (t) => {
  const weights = (share: number) => [0, 20, 39, 40, 79, 100, 150].map((step) => Number(pathWarmupWeight(step, 100, share).toFixed(3)));
  t.deepEqual(weights(1), [1, 0.8, 0.61, 0.6, 0.21, 0, 0]);
  t.deepEqual(weights(0.4), [1, 0.5, 0.025, 0, 0, 0, 0]);
});

test('members share weights: a kernel-3 member reads the centre of the kernel-5 slot, narrower widths the leading channels', (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 7 });
  const kernelPoint = space.choicePoints.findIndex((c) => c.path === 'stages[0].kernel');
  const widthPoint = space.choicePoints.findIndex((c) => c.path === 'stages[0].filterMultiplier');
  const base = space.choicePoints.map(() => 0);
  base[space.choicePoints.findIndex((c) => c.path === 'stages[0].op')] = 1; // mbconv3
  const stats = new BatchNormStats();
  const x = randomBatch(1, 4, 16, 1);
  const weightOf = (choices: number[], name: string) => {
    tf.tidy(() => supernet.forward(choices, x, { kind: 'calibrate', stats }));
    return supernet.memberWeights(choices, stats).find((w) => w.name === name)!;
  };
  const k3 = weightOf(base, 'b1.dw/depthwise_kernel');
  const k5choices = [...base];
  k5choices[kernelPoint] = 1;
  const k5 = weightOf(k5choices, 'b1.dw/depthwise_kernel');
  t.deepEqual(k3.shape.slice(0, 2), [3, 3]);
  t.deepEqual(k5.shape.slice(0, 2), [5, 5]);
  const channels = k3.shape[2]!;
  // k3[i][j][c] == k5[i+1][j+1][c]
  for (const [i, j, c] of [
    [0, 0, 0],
    [1, 2, channels - 1],
    [2, 1, 3],
  ] as const) {
    t.is(k3.values[(i * 3 + j) * channels + c], k5.values[((i + 1) * 5 + (j + 1)) * k5.shape[2]! + c]);
  }
  const wide = [...base];
  wide[widthPoint] = 1;
  const narrowProject = weightOf(base, 'b1.project/kernel');
  const wideProject = weightOf(wide, 'b1.project/kernel');
  const [, , cin, cout] = narrowProject.shape as [number, number, number, number];
  t.true(wideProject.shape[3]! > cout);
  t.is(narrowProject.values[cout - 1], wideProject.values[cout - 1]);
  t.is(narrowProject.values[(cin - 1) * cout], wideProject.values[(cin - 1) * wideProject.shape[3]!]);
  tf.dispose(x);
  supernet.dispose();
});

/** Slot names (`s1.0.bneck.dw/...`) of the shared weights a forward pass of a member gives a gradient. */
function trainedSlots(supernet: Supernet, choices: number[], mixedOps: number[]): string[] {
  const named = supernet.namedVariables();
  const x = randomBatch(4, 4, supernet.options.resolution, 1);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(supernet.forward(choices, x, { kind: 'batch' }, null, mixedOps)) as tf.Scalar,
    named.map((n) => n.variable),
  );
  const slots = named.filter((n) => grads[n.variable.name]).map((n) => n.name);
  tf.dispose([x, value, ...Object.values(grads)]);
  return slots;
}

test('op warm-up: a mixed op choice runs and trains every op family of its stage; unmixed, only the member op', (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 7 });
  const opPoint = space.choicePoints.findIndex((c) => c.path === 'stages[0].op');
  const opPoints = space.choicePoints.flatMap((c, i) => (c.field === 'op' ? [i] : []));
  t.deepEqual(supernet.mixableOps(), opPoints, 'dsconv and the bottlenecks have separate weights');
  const choices = space.choicePoints.map(() => 0); // stage 0: dsconv
  const families = (slots: string[]) => [...new Set(slots.filter((s) => s.startsWith('s1.')).map((s) => s.split('.')[2]))].sort();
  t.deepEqual(families(trainedSlots(supernet, choices, [])), ['dsconv']);
  t.deepEqual(families(trainedSlots(supernet, choices, [opPoint])), ['bneck', 'dsconv']);
  const x = randomBatch(5, 2, 16, 1);
  const [plain, mixed] = [[], [opPoint]].map((m) => tf.tidy(() => supernet.forward(choices, x, { kind: 'batch' }, null, m).arraySync()));
  t.notDeepEqual(plain, mixed);
  tf.dispose(x);
  supernet.dispose();
  const oneFamily = new Supernet(getChoiceSpace('mobilenetv3-ibn'), { resolution: 32, classes: 10, seed: 1 });
  t.deepEqual(oneFamily.mixableOps(), [], 'one family: nothing to mix');
  oneFamily.dispose();
});

async function supernetRun(
  runDir: string,
  experiment: ReturnType<typeof tinyExperiment>,
  options: { resume?: boolean; stopAfterSteps?: number; stopInPhase?: SupernetProgress['phase'] } = {},
) {
  const setup = setupSearch(experiment, 10);
  const abort = new AbortController();
  return runSupernetSearch(
    {
      experiment,
      runDir,
      resume: options.resume,
      command: 'test',
      signal: abort.signal,
      onProgress: (p) => {
        if (options.stopAfterSteps !== undefined && p.step >= options.stopAfterSteps) abort.abort();
        if (p.phase === options.stopInPhase) abort.abort();
      },
    },
    setup,
  );
}

function tinySupernetExperiment() {
  const { dir } = tinySearchFiles();
  return {
    dir,
    experiment: tinyExperiment(path.join(dir, 'space.json'), path.join(dir, 'table.json'), {
      evaluator: 'supernet',
      budget: 12,
      batchSize: 4,
      reward: { targetMs: 0.5, constraint: 'absolute', w: -0.15, beta: -0.5 },
      proxy: {
        dataset: 'fashion-mnist',
        resolution: 16,
        train: { trainSamples: 256, validationSamples: 128, batchSize: 16, augment: false },
      },
      supernet: { warmup: 0.25, validationBatch: 32, recalibrationBatches: 2, candidates: 4, topK: 2, rankingSamples: 64 },
    }),
  };
}

/** Runs a supernet search to its end, checks it finished with its outputs, and returns every trial's reward. */
async function rewardsOfFinishedRun(t: ExecutionContext, runDir: string, experiment: Experiment): Promise<number[]> {
  const summary = await supernetRun(runDir, experiment);
  t.is(summary.trials, experiment.budget);
  t.true(existsSync(path.join(runDir, 'best.json')));
  const store = new SearchRunDir(runDir).trialStore();
  const rewards = store.all().map((trial) => trial.reward);
  store.close();
  return rewards;
}

test('a supernet search trains, rewards one member per step after the warm-up, and writes the ranked members, best.json and its inherited weights', async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const runDir = path.join(dir, 'run');
  const summary = await supernetRun(runDir, experiment);
  t.is(summary.trials, 12);
  const store = new SearchRunDir(runDir).trialStore();
  const trials = store.all();
  store.close();
  t.deepEqual(
    trials.map((tr) => [tr.batch, tr.slot]),
    Array.from({ length: 12 }, (_, i) => [Math.floor(i / 4), i % 4]),
  );
  const candidates = readJsonFile(path.join(runDir, SUPERNET_RUN_FILES.candidates)) as {
    candidates: { rank: number; reward: number; spec: string | null }[];
  };
  t.is(candidates.candidates.length, 4, 'settings.candidates distinct members are ranked');
  t.true(candidates.candidates.every((c, i, all) => i === 0 || all[i - 1]!.reward >= c.reward));
  const best = readArchSpec(summary.best!.spec);
  t.deepEqual(best.blocks, readArchSpec(candidates.candidates[0]!.spec!).blocks);
  t.true(existsSync(path.join(runDir, SUPERNET_RUN_FILES.controllerBest)));
  // The inherited weights load into the model of best.json.
  const saved = loadCheckpoint(resolveCheckpointDir(path.join(runDir, SUPERNET_RUN_FILES.bestWeights)), (d) => d);
  const model = buildModel(best);
  t.notThrows(() => assignWeights(model, saved.weights, 'best-weights'));
  model.dispose();
  // It names the dataset the supernet trained on, which nas netadapt --checkpoint then fine-tunes on.
  t.is(readCheckpointDataset(path.join(runDir, SUPERNET_RUN_FILES.bestWeights)), experiment.proxy.dataset);
  // best.json records how its latency was priced (deployment input, table, missing-op policy), and
  // the checkpoint holds best.json itself, so that nas latency and nas netadapt --checkpoint price it as the search did.
  const bestJson = readJsonFile(summary.best!.spec) as { provenance: { deployment: unknown } };
  t.like(bestJson.provenance.deployment, { resolution: 16, classes: 10, table: 'synthetic', missing: 'error' });
  t.true(existsSync((bestJson.provenance.deployment as { tableFile: string }).tableFile), 'and the file of that table');
  t.deepEqual(readCheckpointSpec(path.join(runDir, SUPERNET_RUN_FILES.bestWeights)).spec, best);
});

test('a supernet search interrupted mid-run resumes from its checkpoint and ends with the trials of an uninterrupted run', async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const whole = path.join(dir, 'whole');
  await supernetRun(whole, experiment);
  const split = path.join(dir, 'split');
  const error = await t.throwsAsync(supernetRun(split, experiment, { stopAfterSteps: 9 }));
  t.true(error instanceof InterruptedError, String(error));
  t.regex(error!.message, /--resume/);
  await supernetRun(split, experiment, { resume: true });
  const rewards = (runDir: string) => {
    const store = new SearchRunDir(runDir).trialStore();
    const all = store.all().map((tr) => [tr.choices.join(''), tr.accuracy, tr.reward]);
    store.close();
    return all;
  };
  t.deepEqual(rewards(split), rewards(whole));
});

test('a NaN loss stops the supernet search with a clear error, keeps the last good checkpoint and says which step it holds', async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const diverging = (checkpointMinutes: number) => ({
    ...experiment,
    proxy: { ...experiment.proxy, train: { ...experiment.proxy.train, learningRate: 1e12 } },
    supernet: { ...experiment.supernet!, checkpointMinutes },
  });
  // Diverged before its first checkpoint (due 2 minutes in): nothing on disk, and the message says so.
  const early = path.join(dir, 'early');
  const before = await t.throwsAsync(supernetRun(early, diverging(2)));
  t.true(before instanceof DivergedError, String(before));
  t.regex(before!.message, /no checkpoint was written yet .*lower proxy\.train\.learningRate/);
  t.is(new SupernetRunDir(early).readCheckpoint(), null);
  t.throws(() => openTrainedSupernet(early), {
    instanceOf: InputError,
    message: /no supernet checkpoint yet .*continue it with nas search --resume/,
  });
  // Checkpointed after every step: the message names the step on disk, whose weights are all finite.
  const late = path.join(dir, 'late');
  const after = await t.throwsAsync(supernetRun(late, diverging(1e-9)));
  t.true(after instanceof DivergedError, String(after));
  const step = Number(/the last good checkpoint \(step (\d+)\) is kept/.exec(after!.message)?.[1]);
  const saved = new SupernetRunDir(late).readCheckpoint()!;
  t.is(saved.state.step, step, after!.message);
  t.true(step >= 1);
  t.true([...saved.arrays.values()].every((values) => values.every(Number.isFinite)));
  // A checkpoint whose weights file is gone is damaged, and said to be.
  rmSync(path.join(late, SUPERNET_RUN_FILES.checkpointDir, saved.state.weightsFile));
  t.throws(() => new SupernetRunDir(late).readCheckpoint(), {
    instanceOf: InputError,
    message: /missing, though .*state\.json names it: the checkpoint is damaged/,
  });
});

test('resuming a supernet run with another evaluator, space or budget is refused (exit 2) and the run is left as it was', async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const runDir = path.join(dir, 'run');
  await t.throwsAsync(supernetRun(runDir, experiment, { stopAfterSteps: 2 }), { instanceOf: InterruptedError });
  const before = new SupernetRunDir(runDir).readCheckpoint()!.state.step;
  for (const other of [
    { ...experiment, evaluator: 'proxy' as const },
    { ...experiment, supernet: { ...experiment.supernet, warmup: 0.5 } },
  ]) {
    const error = await t.throwsAsync(supernetRun(runDir, other, { resume: true }));
    t.true(error instanceof InputError && error.exitCode === 2, String(error));
    t.regex(error!.message, /ran another experiment: \$\.(evaluator: "supernet" vs "proxy"|supernet\.warmup: [\d.]+ vs 0\.5) \(/);
  }
  // The budget sets the warm-up and the learning-rate schedule: a resumed run cannot take another.
  for (const budget of [20, 8]) {
    const error = await t.throwsAsync(supernetRun(runDir, { ...experiment, budget }, { resume: true }));
    t.true(error instanceof InputError && error.exitCode === 2, String(error));
    t.regex(error!.message, new RegExp(`supernet run of budget 12, .*cannot change it to ${budget}; drop --budget`));
  }
  t.is(new SupernetRunDir(runDir).readCheckpoint()!.state.step, before);
});

test('ranking draws until it has settings.candidates distinct members from a controller that has settled', async (t) => {
  // A settled controller: every batch is one member, except that its first draw depends on the seed.
  const settled = [0, 0, 0];
  const policy = {
    mostLikely: () => settled,
    sample: async (count: number, seed: number) => ({
      choices: Array.from({ length: count }, (_, i) => (i === 0 ? [seed % 7, 1, 1] : settled)),
      logProbs: [],
    }),
  };
  const request = {
    supernet: { member: (choices: number[]) => ({ blocks: choices }) },
    policy,
    experiment: { seed: 3 },
    settings: { candidates: 5 },
  } as unknown as Parameters<typeof drawCandidates>[0];
  const drawn = await drawCandidates(request);
  t.is(drawn.length, 5);
  t.is(new Set(drawn.map((d) => d.choices.join(','))).size, 5);
  t.deepEqual(drawn[0], { choices: settled, mostLikely: true });
});

test('ranking counts members that differ only in choices their architecture ignores as one candidate', async (t) => {
  // 2304 choice vectors, 672 networks: a first-stage layer past the stage's depth ignores its op and kernel.
  const space = new ChoiceSpace(perLayerSpaceDefinition());
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 1 });
  const rng = derive(4, 'draws');
  const policy = {
    mostLikely: () => null,
    sample: async (count: number) => ({ choices: Array.from({ length: count }, () => space.randomChoices(rng)), logProbs: [] }),
  };
  const request = { supernet, policy, experiment: { seed: 3 }, settings: { candidates: 40 } } as unknown as Parameters<
    typeof drawCandidates
  >[0];
  const drawn = await drawCandidates(request);
  const architectures = drawn.map((d) => specHash(supernet.member(d.choices)));
  t.is(drawn.length, 40, 'the 672 networks give 40 within 20 batches of draws');
  t.is(new Set(architectures).size, 40, 'every candidate a different network');
  supernet.dispose();
});

test("a trained supernet reopened from its run: a member's written checkpoint scores what evaluate() says and fine-tunes as an ordinary checkpoint", async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const runDir = path.join(dir, 'run');
  await supernetRun(runDir, experiment);
  const { space } = setupSearch(experiment, 10);
  const choices = space.randomChoices(derive(5, 'member'));
  const trained = openTrainedSupernet(runDir);
  const checkpoint = path.join(dir, 'member');
  let spec: Awaited<ReturnType<typeof trained.writeMemberCheckpoint>>;
  let accuracy: number;
  try {
    accuracy = trained.evaluate(choices).accuracy;
    spec = await trained.writeMemberCheckpoint(choices, checkpoint);
  } finally {
    trained.dispose();
  }
  t.deepEqual(spec.blocks, space.materialise(choices, { resolution: 16, classes: 10, name: spec.name }).blocks);
  // The checkpoint's model on the images evaluate() scored (rankingSamples: 64).
  const { validation } = proxyBatchers(experiment, space);
  const batch = validation.batch(Int32Array.from({ length: 64 }, (_, i) => i));
  const model = buildModel(spec);
  assignWeights(model, loadCheckpoint(resolveCheckpointDir(checkpoint), (d) => d).weights, 'member');
  const predicted = tf.tidy(() => tf.argMax(model.predict(batch.x) as tf.Tensor, 1).dataSync());
  const correct = batch.labels.filter((label, i) => predicted[i] === label).length;
  tf.dispose([batch.x, batch.y]);
  model.dispose();
  t.true(Math.abs(correct / 64 - accuracy) <= 1 / 64, `${correct / 64} vs ${accuracy}`);
  // Fine-tuned from it as NetAdapt fine-tunes a proposal.
  const config = trainConfig({ epochs: 1, trainSamples: 64, batchSize: 16, validationSamples: 64, warmupEpochs: 0, augment: false });
  const tuned = await trainForEvaluation(loadDataset('fashion-mnist', 16), spec, config, { inheritFrom: { spec, checkpoint } });
  t.is(tuned.error, null);
  t.true(tuned.accuracy > 0);
});

test('supernet.finetuneSteps: the top candidates are fine-tuned from their inherited weights and ranked again; best-weights holds the fine-tuned weights', async (t) => {
  const { dir, experiment: base } = tinySupernetExperiment();
  const experiment = { ...base, supernet: { ...base.supernet!, finetuneSteps: 4 } };
  const runDir = path.join(dir, 'run');
  // Interrupted after the first fine-tune: the trained supernet and that fine-tune are kept; --resume does the second.
  await t.throwsAsync(supernetRun(runDir, experiment, { stopInPhase: 'fine-tune' }), {
    instanceOf: InterruptedError,
    message:
      /while fine-tuning candidates: the trained supernet and the finished fine-tunes are kept in .*; continue with nas search --resume /,
  });
  const run = new SupernetRunDir(runDir);
  const first = run.finetuneFile(1, 'result');
  const firstWritten = statSync(first).mtimeMs;
  t.false(existsSync(run.finetuneFile(2, 'result')));
  const summary = await supernetRun(runDir, experiment, { resume: true });
  t.is(statSync(first).mtimeMs, firstWritten, 'the finished fine-tune is not redone');
  t.true(existsSync(run.finetuneFile(2, 'result')));
  const { candidates } = readJsonFile(path.join(runDir, SUPERNET_RUN_FILES.candidates)) as {
    candidates: { reward: number; accuracy: number; inheritedAccuracy?: number; finetuneError?: string | null; choices: number[] }[];
  };
  const tuned = candidates.slice(0, 2);
  t.true(
    tuned.every((c) => typeof c.inheritedAccuracy === 'number' && c.finetuneError === null),
    'topK (2) fine-tuned',
  );
  t.true(candidates.slice(2).every((c) => c.inheritedAccuracy === undefined));
  t.true(tuned[0]!.reward >= tuned[1]!.reward, 'ranked again on the fine-tuned reward');
  // best-weights: the fine-tuned checkpoint under best.json's spec, scoring what the ranking says on its 64 images.
  const best = readArchSpec(summary.best!.spec);
  const saved = loadCheckpoint(resolveCheckpointDir(path.join(runDir, SUPERNET_RUN_FILES.bestWeights)), (d) => d);
  t.deepEqual([saved.spec.name, saved.spec.blocks], [best.name, best.blocks]);
  t.regex(best.provenance?.source ?? '', /fine-tuned 4 steps/);
  const { validation } = proxyBatchers(experiment, setupSearch(experiment, 10).space);
  const batch = validation.batch(Int32Array.from({ length: 64 }, (_, i) => i));
  const model = buildModel(best);
  assignWeights(model, saved.weights, 'best-weights');
  const predicted = tf.tidy(() => tf.argMax(model.predict(batch.x) as tf.Tensor, 1).dataSync());
  const correct = batch.labels.filter((label, i) => predicted[i] === label).length;
  tf.dispose([batch.x, batch.y]);
  model.dispose();
  t.true(Math.abs(correct / 64 - tuned[0]!.accuracy) <= 1 / 64, `${correct / 64} vs ${tuned[0]!.accuracy}`);
  // An ordinary training checkpoint, but the search's result: no training takes the directory for its own run.
  const bestWeights = path.join(runDir, SUPERNET_RUN_FILES.bestWeights);
  for (const resume of [true, false])
    t.throws(() => new TrainRunDir(bestWeights).refuseExistingRun({ resume }), {
      instanceOf: InputError,
      message:
        /holds a supernet search's fine-tuned best weights .*choose another --out; nas train --init-from \S+ --arch \S+spec\.json fine-tunes them further, nas eval --checkpoint \S+ scores them$/,
    });
});

test('a fine-tune that failed ranks last, below the candidates that were not fine-tuned; one that worked is ranked on its fine-tuned reward', async (t) => {
  const { dir, experiment: base } = tinySupernetExperiment();
  const settings = supernetSettings({ ...base.supernet!, finetuneSteps: 4, topK: 2 });
  const experiment = { ...base, supernet: settings };
  const setup = setupSearch(experiment, 10);
  const run = new SupernetRunDir(path.join(dir, 'run'));
  const candidate = (choices: number[], accuracy: number): RankedCandidate => ({
    choices,
    accuracy,
    latencyMs: 0.5,
    reward: reward(accuracy, 0.5, setup.rewardSettings),
    mostLikely: false,
    stats: new BatchNormStats(),
  });
  const ranked = [candidate([0, 0], 0.9), candidate([1, 0], 0.8), candidate([0, 1], 0.7)];
  // Both fine-tunes are on disk (as a resumed run finds them), so nothing is trained here.
  await run.writeFinetuneResult(1, { choices: [0, 0], accuracy: 0, error: 'loss diverged at step 3', seconds: 1 });
  await run.writeFinetuneResult(2, { choices: [1, 0], accuracy: 0.85, error: null, seconds: 1 });
  const supernet = undefined as unknown as Supernet; // not reached: no fine-tune is left to do
  const reranked = await finetuneTopCandidates({ run, supernet, experiment, setup, settings }, ranked);
  t.deepEqual(
    reranked.map((c) => c.choices),
    [
      [1, 0],
      [0, 1],
      [0, 0],
    ],
  );
  t.like(reranked[0], { accuracy: 0.85, finetuned: { inheritedAccuracy: 0.8, error: null } });
  t.like(reranked[2], { accuracy: 0, finetuned: { inheritedAccuracy: 0.9, error: 'loss diverged at step 3' } });
});

test('supernet.sandwich: the largest and smallest members of a space are its widest, deepest, biggest-kernel and narrowest, shallowest, dsconv ends, residuals kept', (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const { largest, smallest } = sandwichMembers(space);
  const values = (choices: number[]) => Object.fromEntries(space.choicePoints.map((c, i) => [c.path, c.options[choices[i]!]]));
  t.like(values(largest), {
    'stages[0].op': 'mbconv6',
    'stages[0].kernel': 5,
    'stages[0].seRatio': 0.25,
    'stages[0].filterMultiplier': 1,
    'stages[0].layerDelta': 1,
    'stages[0].activation': 'hswish',
  });
  t.like(values(smallest), {
    'stages[1].op': 'dsconv',
    'stages[1].kernel': 3,
    'stages[1].seRatio': 0,
    'stages[1].filterMultiplier': 0.5,
    'stages[1].layerDelta': 0,
    'stages[1].activation': 'relu',
  });
  const mnv3 = getChoiceSpace('mobilenetv3');
  const ends = sandwichMembers(mnv3);
  for (const members of [ends.largest, ends.smallest])
    t.true(
      mnv3.choicePoints.every((c, i) => c.field !== 'skip' || c.options[members[i]!] === true),
      'both ends keep their residuals',
    );
});

test("supernet.sandwich: the drawn and smallest members learn from the largest member's predictions, which the distillation does not train", (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 3 });
  const { largest, smallest } = sandwichMembers(space);
  const drawn = space.choicePoints.map((c) => (c.field === 'op' ? 0 : 1)); // dsconv everywhere: no bottleneck weights
  const named = supernet.namedVariables();
  const variables = named.map((n) => n.variable);
  const x = randomBatch(6, 8, 16, 1);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
  const logitsOf = (choices: number[]) => supernet.forward(choices, x, { kind: 'batch' }, { dropoutSeed: 1 });
  const gradsOf = (loss: () => tf.Scalar) => {
    const { value, grads } = tf.variableGrads(loss, variables);
    return { value: value.dataSync()[0]!, grads };
  };
  const sandwich = gradsOf(() => sandwichLoss(labels, logitsOf(largest), [logitsOf(drawn), logitsOf(smallest)]));
  const teacherAlone = gradsOf(() => tf.losses.softmaxCrossEntropy(labels, logitsOf(largest)) as tf.Scalar);
  // Bottleneck slots: only the largest member runs them, so their gradient is its own loss's alone.
  const bottleneck = named.filter((n) => n.name.includes('.bneck.') && sandwich.grads[n.variable.name]);
  t.true(bottleneck.length > 0);
  for (const { name, variable } of bottleneck) {
    const own = teacherAlone.grads[variable.name]!;
    const diff = tf.max(tf.abs(tf.sub(sandwich.grads[variable.name]!, own))).dataSync()[0]!;
    const scale = tf.max(tf.abs(own)).dataSync()[0]!;
    t.true(diff <= 1e-5 * scale, `${name}: the distillation terms sent ${diff} into the teacher (its own gradient: ${scale})`);
  }
  const soft = tf.softmax(logitsOf(largest));
  const expected =
    teacherAlone.value +
    tf.losses.softmaxCrossEntropy(soft, logitsOf(drawn)).dataSync()[0]! +
    tf.losses.softmaxCrossEntropy(soft, logitsOf(smallest)).dataSync()[0]!;
  t.true(Math.abs(sandwich.value - expected) < 1e-4, `${sandwich.value} vs ${expected}`);
  const dsconvSlots = named.filter((n) => n.name.includes('.dsconv.') && sandwich.grads[n.variable.name]);
  t.true(dsconvSlots.length > 0, 'the students train their own slots');
  supernet.dispose();
});

test('supernet.fairPaths: one training step through several members is one update by the sum of their gradients, and reports their mean loss', (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const supernet = new Supernet(space, { resolution: 16, classes: 10, seed: 3 });
  const members = fairMembers(space, derive(4, 'fair'));
  t.true(members.length > 1);
  const named = supernet.namedVariables();
  const variables = named.map((n) => n.variable);
  const batch = { x: randomBatch(6, 8, 16, 1), y: tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10) };
  const lossOf = (choices: number[]) =>
    tf.losses.softmaxCrossEntropy(batch.y, supernet.forward(choices, batch.x, { kind: 'batch' }, { dropoutSeed: 9 })) as tf.Scalar;
  const { value, grads } = tf.variableGrads(() => tf.addN(members.map(lossOf)) as tf.Scalar, variables);
  const before = new Map(named.map((n) => [n.name, n.variable.clone()]));
  const step = supernetTrainingStep(supernet, supernetOptimizer(supernet, { kind: 'sgd', momentum: 0, weightDecay: 0 }));
  const loss = step(members, batch, 0.1, 9);
  t.true(Math.abs(loss - value.dataSync()[0]! / members.length) < 1e-4, `${loss} vs the mean ${value.dataSync()[0]! / members.length}`);
  let moved = 0;
  for (const { name, variable } of named) {
    const grad = grads[variable.name];
    if (!grad) continue;
    const expected = tf.sub(before.get(name)!, tf.mul(grad, 0.1));
    const diff = tf.max(tf.abs(tf.sub(variable, expected))).dataSync()[0]!;
    t.true(diff < 1e-5, `${name}: off by ${diff}`);
    moved++;
  }
  t.true(moved > 0);
  supernet.dispose();
});

test('supernet.fairPaths: a search with strict fairness runs to its ranked outputs, its members scored by other shared weights than without it', async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const fair = { ...experiment, supernet: { ...experiment.supernet, fairPaths: true } };
  const rewards = (name: string, e: Experiment) => rewardsOfFinishedRun(t, path.join(dir, name), e);
  t.notDeepEqual(await rewards('run-fair', fair), await rewards('run-plain', experiment));
});

test('supernet.sandwich: a search with the sandwich rule runs to its ranked outputs, its members scored by other shared weights than without it', async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const sandwiched = { ...experiment, supernet: { ...experiment.supernet, sandwich: true } };
  const rewards = (name: string, e: Experiment) => rewardsOfFinishedRun(t, path.join(dir, name), e);
  t.notDeepEqual(await rewards('run-sandwich', sandwiched), await rewards('run-plain', experiment));
});

test("supernet.largestFirst: the warm-up's first steps train the space's largest member, the rest draw the same uniform members as without it", (t) => {
  const space = getChoiceSpace('mobilenetv3-small-ibn');
  const { largest } = sandwichMembers(space);
  const phase = { largest, largestFirstSteps: 3, fairPaths: false };
  for (const step of [0, 1, 2]) t.deepEqual(warmupMembers(space, phase, 5, step), [largest]);
  for (const step of [3, 4, 9]) {
    const uniform = warmupMembers(space, { ...phase, largestFirstSteps: 0 }, 5, step);
    t.deepEqual(warmupMembers(space, phase, 5, step), uniform);
    t.is(uniform.length, 1);
    t.notDeepEqual(uniform[0], largest);
  }
});

test('supernet.fairPaths: a warm-up step trains one member per option of the widest choice point, every option of every point equally often, the same members again on resume', (t) => {
  const space = getChoiceSpace('mobilenetv3');
  const phase = { largest: [], largestFirstSteps: 0, fairPaths: true };
  const members = warmupMembers(space, phase, 5, 7);
  t.is(members.length, 4, 'the op choice has four options');
  space.choicePoints.forEach((point, i) => {
    const counts = Array.from({ length: point.options.length }, (_, option) => members.filter((m) => m[i] === option).length);
    t.true(Math.max(...counts) - Math.min(...counts) <= (4 % point.options.length === 0 ? 0 : 1), `${point.field} ${counts}`);
    t.true(Math.min(...counts) >= 1, `${point.field}: every option trained`);
  });
  t.deepEqual(warmupMembers(space, phase, 5, 7), members);
  t.notDeepEqual(warmupMembers(space, phase, 5, 8), members);
});

test('supernet.largestFirst must end inside the warm-up: an experiment says so, naming the field', (t) => {
  const { dir } = tinySearchFiles();
  const error = t.throws(() =>
    tinyExperiment(path.join(dir, 'space.json'), path.join(dir, 'table.json'), {
      evaluator: 'supernet',
      supernet: { warmup: 0.25, largestFirst: 0.25 },
    }),
  );
  t.true(error instanceof InputError && error.exitCode === 2, String(error));
  t.regex(error!.message, /supernet\.largestFirst.*not below supernet\.warmup \(0\.25\)/);
});

test('supernet.largestFirst: a search that trains the largest member first runs to its ranked outputs, its members scored by other shared weights than without it', async (t) => {
  const { dir, experiment } = tinySupernetExperiment();
  const withWarmup = (largestFirst: number) => ({ ...experiment, supernet: { ...experiment.supernet, warmup: 0.5, largestFirst } });
  const rewards = (name: string, e: Experiment) => rewardsOfFinishedRun(t, path.join(dir, name), e);
  t.notDeepEqual(await rewards('run-largest-first', withWarmup(0.25)), await rewards('run-uniform', withWarmup(0)));
});
