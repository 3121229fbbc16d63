import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { searchProgressLine } from '../src/cli/search-progress.js';
import { InputError, InterruptedError } from '../src/common/errors.js';
import { derive } from '../src/common/rng.js';
import { DEFAULT_CONTROLLER } from '../src/controller/controller-settings.js';
import { readExperiment } from '../src/controller/experiment.js';
import { createPolicy } from '../src/controller/policy.js';
import { reward } from '../src/controller/reward.js';
import { runSearch, type SearchProgress, type SearchRequest } from '../src/controller/search.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import { setupSearch } from '../src/controller/setup.js';
import type { TrialStore } from '../src/controller/store.js';
import { opKey, specOps, unitOp } from '../src/latency-model/predict/ops.js';
import { predictLatency } from '../src/latency-model/predict/predict.js';
import { membersNear } from '../src/latency-model/predict/space-latency.js';
import { tableHash } from '../src/latency-model/predict/table-ref.js';
import { readLatencyTable } from '../src/latency-model/predict/table-schema.js';
import { type BneckBlock, parseArchSpec } from '../src/search-space/archspec.js';
import { ChoiceSpace } from '../src/search-space/choice-space.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { everyMember, SurrogateEvaluator, syntheticTable, tinyExperiment, tinySpaceDefinition } from './helpers/search.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-search-'));

test.before(async () => {
  await prepareBackend('auto');
});

for (const name of ['mnasnet', 'mobilenetv3']) {
  test(`${name} space: 200 random members are valid specs whose every op the space enumerates`, (t) => {
    const space = getChoiceSpace(name);
    const keys = new Set([...space.units(224)].map((u) => opKey(unitOp(u))));
    const rng = derive(1, name);
    for (let i = 0; i < 200; i++) {
      const spec = space.sample(rng, 224);
      t.notThrows(() => parseArchSpec(JSON.parse(JSON.stringify(spec))));
      for (const op of specOps(spec)) if (op.id !== 'classifier') t.true(keys.has(op.key), `${spec.name}: ${op.key}`);
    }
  });
}

test("the MnasNet space has the paper's choice points and materialises choices as written", (t) => {
  const space = getChoiceSpace('mnasnet');
  t.is(space.choicePoints.length, 42);
  t.deepEqual(
    space.choicePoints.slice(0, 6).map((c) => c.path),
    ['stages[0].op', 'stages[0].kernel', 'stages[0].seRatio', 'stages[0].skip', 'stages[0].filterMultiplier', 'stages[0].layerDelta'],
  );
  t.deepEqual(space.choicePoints[0]!.options, ['conv', 'dsconv', 'mbconv3', 'mbconv6']);
  t.true(Math.abs(space.log10Size - 7 * Math.log10(4 * 2 * 2 * 2 * 3 * 3)) < 1e-9);
  // stage 2 (24 filters, 2 layers, stride 2): MBConv6, 5x5, SE 0.25, skip, x1.25, +1 layer
  const choices = Array(42).fill(0);
  choices.splice(6, 6, 3, 1, 1, 1, 2, 2);
  const spec = space.materialise(choices);
  const stage2 = spec.blocks.slice(1, 4);
  t.is(stage2.length, 3);
  t.deepEqual(
    stage2.map((b) => [b.type, b.kernel, b.stride, b.out, b.residual]),
    [
      ['bneck', 5, 2, 32, false],
      ['bneck', 5, 1, 32, true],
      ['bneck', 5, 1, 32, true],
    ],
  );
  // Stage 1 (all first options: conv, x0.75) outputs makeDivisible(16 x 0.75) = 16 channels.
  t.is((stage2[0] as BneckBlock).exp, 6 * 16);
  t.deepEqual(stage2[0]!.se, { squeeze: 4, gate: 'sigmoid', activation: 'relu' }); // floor(0.25 x 16)
  t.throws(() => space.materialise([1, 2]), { instanceOf: InputError, message: /42 choice points, got a vector of 2/ });
  t.throws(() => space.materialise(Array(42).fill(7)), {
    instanceOf: InputError,
    message: /choice 0 \(stages\[0\]\.op\) must be 0\.\.3, got 7/,
  });
});

test('the fastest member found by dynamic programming equals brute force over the tiny space', (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const { fastestMs, dpFastestMs } = everyMember(space, syntheticTable(space));
  t.true(Math.abs(dpFastestMs - fastestMs) < 1e-9, `${dpFastestMs} vs ${fastestMs}`);
});

test('membersNear: uniform members within the band of a target, in the order drawn, as many as asked or as the draws allow', (t) => {
  const space = new ChoiceSpace(tinySpaceDefinition());
  const table = syntheticTable(space);
  const priceMs = (choices: readonly number[]) => predictLatency(space.materialise(choices), table).totalMs;
  const prices = Array.from({ length: 400 }, (_, k) => priceMs(space.randomChoices(derive(1, 'probe', k)))).sort((a, b) => a - b);
  const band = { targetMs: prices[200]!, tolerance: 0.05 };
  const members = membersNear(space, priceMs, band, 5, derive(7, 'band'));
  t.is(members.length, 5);
  for (const m of members) {
    t.true(Math.abs(m.latencyMs / band.targetMs - 1) <= band.tolerance);
    t.is(m.latencyMs, priceMs(m.choices));
  }
  const rng = derive(7, 'band');
  const inBand: number[][] = [];
  while (inBand.length < 5) {
    const choices = space.randomChoices(rng);
    if (Math.abs(priceMs(choices) / band.targetMs - 1) <= band.tolerance) inBand.push(choices);
  }
  t.deepEqual(
    members.map((m) => m.choices),
    inBand,
  );
  t.true(membersNear(space, priceMs, { targetMs: prices[0]! / 10, tolerance: 0.01 }, 3, derive(7, 'band'), 500).length === 0);
});

test('reward: soft and hard constraints', (t) => {
  const soft = { targetMs: 80, constraint: 'soft' as const, w: -0.07 };
  t.is(reward(0.75, 80, soft), 0.75);
  t.true(Math.abs(reward(0.75, 160, soft) - 0.75 * 2 ** -0.07) < 1e-12);
  t.true(reward(0.75, 40, soft) > 0.75);
  const hard = { targetMs: 80, constraint: 'hard' as const, w: -0.07 };
  t.is(reward(0.75, 40, hard), 0.75);
  t.is(reward(0.75, 160, hard), 0.375);
});

for (const algorithm of ['reinforce', 'ppo'] as const) {
  test.serial(`${algorithm}: the LSTM policy learns a toy reward and its state round-trips`, async (t) => {
    const counts = [3, 2, 4, 2, 3, 2];
    const policy = createPolicy(algorithm, counts, { ...DEFAULT_CONTROLLER, hidden: 16, embedding: 8, learningRate: 0.05 }, 1);
    const score = (c: number[]) => c.filter((v) => v === 0).length / c.length;
    const mean = async (seed: number) => (await policy.sample(64, seed)).choices.map(score).reduce((a, b) => a + b, 0) / 64;
    const before = await mean(1000);
    for (let i = 0; i < 30; i++) {
      const batch = await policy.sample(16, i);
      await policy.update(batch, batch.choices.map(score));
    }
    const after = await mean(1000);
    t.true(after > before + 0.2, `mean reward ${before.toFixed(3)} -> ${after.toFixed(3)}`);
    t.deepEqual(await policy.sample(8, 7), await policy.sample(8, 7), 'the same seed draws the same batch');
    const state = await policy.getState();
    const copy = createPolicy(algorithm, counts, { ...DEFAULT_CONTROLLER, hidden: 16, embedding: 8, learningRate: 0.05 }, 99);
    await copy.setState(state);
    t.deepEqual(await copy.sample(8, 5), await policy.sample(8, 5));
    const batch = await policy.sample(16, 50);
    await policy.update(batch, batch.choices.map(score));
    await copy.update(batch, batch.choices.map(score));
    t.deepEqual((await copy.sample(8, 6)).choices, (await policy.sample(8, 6)).choices, 'the optimizer state round-trips too');
    policy.dispose();
    copy.dispose();
  });
}

function tinyFiles() {
  const dir = tmp();
  const spaceFile = path.join(dir, 'tiny-space.json');
  writeFileSync(spaceFile, JSON.stringify(tinySpaceDefinition()));
  const tableFile = path.join(dir, 'tiny-table.json');
  writeFileSync(tableFile, JSON.stringify(syntheticTable(new ChoiceSpace(tinySpaceDefinition()))));
  return { dir, spaceFile, tableFile };
}

test('a search interrupted after its first trial says it kept 1 finished trial', async (t) => {
  const { dir, spaceFile, tableFile } = tinyFiles();
  const experiment = tinyExperiment(spaceFile, tableFile, { batchSize: 1 });
  const controller = new AbortController();
  const request = { experiment, runDir: path.join(dir, 'run'), evaluator: new SurrogateEvaluator(), command: 'test' };
  await t.throwsAsync(
    runSearch({ ...request, signal: controller.signal, onProgress: () => controller.abort() }, setupSearch(experiment, 10)),
    {
      instanceOf: InterruptedError,
      message: /^search interrupted: 1 finished trial kept in /,
    },
  );
});

test.serial('a search run writes its trials and outputs; resuming an interrupted run gives the same trials', async (t) => {
  const { dir, spaceFile, tableFile } = tinyFiles();
  const experiment = tinyExperiment(spaceFile, tableFile);
  const setup = setupSearch(experiment, 10);
  const straightDir = path.join(dir, 'straight');
  const summary = await runSearch({ experiment, runDir: straightDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setup);
  t.is(summary.trials, 12);
  for (const file of [
    'best.json',
    'pareto.json',
    'pareto.svg',
    'reward.svg',
    'summary.json',
    'trials.sqlite',
    'controller.json',
    'run.json',
  ])
    t.true(existsSync(path.join(straightDir, file)), file);
  const best = parseArchSpec(JSON.parse(readFileSync(path.join(straightDir, 'best.json'), 'utf8')));
  t.is(best.input.resolution, 16);
  t.is(summary.best!.spec, path.join(straightDir, 'best.json'));

  const resumedDir = path.join(dir, 'resumed');
  const controller = new AbortController();
  let finished = 0;
  await t.throwsAsync(
    runSearch(
      {
        experiment,
        runDir: resumedDir,
        evaluator: new SurrogateEvaluator(),
        command: 'test',
        signal: controller.signal,
        onProgress: () => ++finished === 6 && controller.abort(),
      },
      setup,
    ),
    { instanceOf: InterruptedError, message: /search interrupted: \d+ finished trials kept .*--resume/ },
  );
  const evaluator = new SurrogateEvaluator();
  const kept = new SearchRunDir(resumedDir).trialStore();
  const keptTrials = kept.count();
  kept.close();
  const resumedProgress: SearchProgress[] = [];
  const onProgress = (p: SearchProgress) => resumedProgress.push(p);
  await runSearch({ experiment, runDir: resumedDir, resume: true, evaluator, command: 'test', onProgress }, setup);
  t.deepEqual(
    resumedProgress.map((p) => p.trialsBefore),
    resumedProgress.map(() => keptTrials),
    'the ETA counts only the trials this process trains',
  );
  t.true(evaluator.calls < 12, `the resumed run trained only the missing children (${evaluator.calls})`);
  const a = new SearchRunDir(straightDir).trialStore();
  const b = new SearchRunDir(resumedDir).trialStore();
  const strip = (trials: ReturnType<TrialStore['all']>) =>
    trials.map(({ finishedAt: _f, trainSeconds: _s, memoised: _m, ...rest }) => rest);
  t.deepEqual(strip(b.all()), strip(a.all()));
  a.close();
  b.close();
});

test.serial(
  "a search's wall time is the whole run's: every session adds its own to run.json, an interrupted one too; summary.json says both",
  async (t) => {
    const { dir, spaceFile, tableFile } = tinyFiles();
    const experiment = tinyExperiment(spaceFile, tableFile);
    const setup = setupSearch(experiment, 10);
    const runDir = path.join(dir, 'run');
    const run = new SearchRunDir(runDir);
    const session = (resume: boolean, stopAfter: number | null) => {
      const controller = new AbortController();
      let trials = 0;
      const onProgress = () => ++trials === stopAfter && controller.abort();
      const request = {
        experiment,
        runDir,
        resume,
        evaluator: new SurrogateEvaluator(),
        command: 'test',
        signal: controller.signal,
        onProgress,
      };
      return runSearch(request, setup);
    };
    await t.throwsAsync(session(false, 3), { instanceOf: InterruptedError });
    const first = run.readRecord().wallSeconds!;
    t.true(first > 0, 'the interrupted first session recorded its time');
    await t.throwsAsync(session(true, 3), { instanceOf: InterruptedError });
    const second = run.readRecord().wallSeconds!;
    t.true(second > first, 'the second session added its own');
    const summary = await session(true, null);
    t.is(summary.trials, 12);
    t.true(Math.abs(summary.wallSeconds - (second + summary.sessionWallSeconds)) < 1e-9, JSON.stringify(summary));
    t.is(run.readRecord().wallSeconds, summary.wallSeconds);
    t.like(run.readSummary(), { wallSeconds: summary.wallSeconds, sessionWallSeconds: summary.sessionWallSeconds });
  },
);

test.serial(
  '--resume with a larger budget extends a search to the trials of a straight run, redoing none; below the trials done it is refused',
  async (t) => {
    const { dir, spaceFile, tableFile } = tinyFiles();
    const experiment = tinyExperiment(spaceFile, tableFile, { budget: 12, batchSize: 4 });
    const setup = setupSearch(experiment, 10);
    const search = (runDir: string, budget: number, options: Partial<SearchRequest> = {}) =>
      runSearch({ experiment: { ...experiment, budget }, runDir, evaluator: new SurrogateEvaluator(), command: 'test', ...options }, setup);
    const trialsOf = (runDir: string) => {
      const store = new SearchRunDir(runDir).trialStore();
      const all = store.all();
      store.close();
      return all;
    };
    const straight = path.join(dir, 'straight');
    await search(straight, 12);
    const extended = path.join(dir, 'extended');
    // 6 trials end inside the second batch of 4.
    t.is((await search(extended, 6)).trials, 6);
    const firstSix = trialsOf(extended);
    // Extended to 9, interrupted after one more trial, then resumed without a budget: run.json's 9 applies.
    const abort = new AbortController();
    await t.throwsAsync(search(extended, 9, { resume: true, signal: abort.signal, onProgress: () => abort.abort() }), {
      instanceOf: InterruptedError,
    });
    t.true(trialsOf(extended).length < 9);
    const recorded = new SearchRunDir(extended).readRecord();
    t.is(recorded.experiment.budget, 9);
    t.deepEqual(
      recorded.budgetChanges?.map((c) => [c.from, c.to, c.command]),
      [[6, 9, 'test']],
    );
    t.is(
      (
        await runSearch(
          { experiment: recorded.experiment, runDir: extended, resume: true, evaluator: new SurrogateEvaluator(), command: 'test' },
          setup,
        )
      ).trials,
      9,
    );
    const evaluator = new SurrogateEvaluator();
    t.is((await search(extended, 12, { resume: true, evaluator })).trials, 12);
    t.true(evaluator.calls <= 3, `only the 3 new trials are evaluated (${evaluator.calls})`);
    const after = trialsOf(extended);
    t.deepEqual(after.slice(0, 6), firstSix, 'the first 6 trials are kept as they were');
    const strip = (trials: ReturnType<TrialStore['all']>) =>
      trials.map(({ finishedAt: _f, trainSeconds: _s, memoised: _m, ...rest }) => rest);
    t.deepEqual(strip(after), strip(trialsOf(straight)), 'the controller continued where it stopped');
    await t.throwsAsync(search(extended, 11, { resume: true }), {
      instanceOf: InputError,
      message: /--budget 11 is below the 12 trials already done in .*extended: give --budget 12 or more/,
    });
    await t.throwsAsync(
      runSearch(
        {
          experiment: { ...experiment, budget: 16, seed: 4 },
          runDir: extended,
          resume: true,
          evaluator: new SurrogateEvaluator(),
          command: 'test',
        },
        setup,
      ),
      { instanceOf: InputError, message: /ran another experiment: \$\.seed \(--seed\): \d+ vs 4 \(the run's value, then the one given\)/ },
    );
    t.is(new SearchRunDir(extended).readRecord().experiment.budget, 12);
  },
);

test.serial('a run of an experiment file records the files it names by absolute path, so it resumes from any directory', async (t) => {
  const { dir, spaceFile, tableFile } = tinyFiles();
  const file = path.join(dir, 'experiment.json');
  writeFileSync(file, JSON.stringify(tinyExperiment(path.basename(spaceFile), path.basename(tableFile), { budget: 4 })));
  t.not(process.cwd(), dir);
  const experiment = readExperiment(file);
  const runDir = path.join(dir, 'run');
  await runSearch({ experiment, runDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setupSearch(experiment, 10));
  const recorded = new SearchRunDir(runDir).readRecord().experiment;
  t.like(recorded, { space: spaceFile, latency: { table: tableFile } });
  const extended = { ...recorded, budget: 8 };
  const request = { experiment: extended, runDir, resume: true, evaluator: new SurrogateEvaluator(), command: 'test' };
  t.is((await runSearch(request, setupSearch(extended, 10))).trials, 8);
});

test.serial(
  'run.json records the table that priced the run by hash and labels; a resume refuses a changed table; version 1 records still read',
  async (t) => {
    const { dir, spaceFile, tableFile } = tinyFiles();
    const experiment = tinyExperiment(spaceFile, tableFile, { budget: 4 });
    const runDir = path.join(dir, 'run');
    await runSearch({ experiment, runDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setupSearch(experiment, 10));
    const run = new SearchRunDir(runDir);
    const record = run.readRecord();
    t.is(record.schemaVersion, 2);
    const table = readLatencyTable(tableFile);
    t.deepEqual(record.table, {
      name: 'synthetic',
      file: tableFile,
      hash: tableHash(table),
      device: 'synthetic',
      runtime: 'none',
      version: null,
    });
    // Relabelled (another device name, a new date): the same prices, the same hash.
    const relabelled = { ...table, device: { ...table.device, name: 'renamed', date: 'later' } };
    t.is(tableHash(relabelled), tableHash(table));
    const [key, entry] = Object.entries(table.entries)[0]!;
    writeFileSync(tableFile, JSON.stringify({ ...table, entries: { ...table.entries, [key]: { ...entry, median: entry.median + 1e-6 } } }));
    const changedTable = setupSearch(experiment, 10);
    t.throws(() => run.open(experiment, true, { table: changedTable.tableRef, spaceHash: changedTable.spaceHash }), {
      instanceOf: InputError,
      message:
        /was priced by synthetic \(synthetic, none; hash [0-9a-f]{16}\), and .*tiny-table\.json now has hash [0-9a-f]{16}: restore that table to resume/,
    });
    const { table: _table, ...unlabelled } = JSON.parse(readFileSync(run.file('run'), 'utf8'));
    writeFileSync(run.file('run'), JSON.stringify({ ...unlabelled, schemaVersion: 1 }));
    t.is(run.readRecord().table, undefined);
    writeFileSync(run.file('run'), JSON.stringify({ ...unlabelled, schemaVersion: 2 }));
    t.throws(() => run.readRecord(), { instanceOf: InputError, message: /run\.json: \$\.table: missing/ });
  },
);

test.serial(
  'run.json records the space by definition hash; a resume refuses an edited space file, not a reworded description',
  async (t) => {
    const { dir, spaceFile, tableFile } = tinyFiles();
    const experiment = tinyExperiment(spaceFile, tableFile, { budget: 4 });
    const runDir = path.join(dir, 'run');
    const setup = setupSearch(experiment, 10);
    await runSearch({ experiment, runDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setup);
    const run = new SearchRunDir(runDir);
    t.is(run.readRecord().spaceHash, setup.spaceHash);
    const definition = tinySpaceDefinition();
    writeFileSync(spaceFile, JSON.stringify({ ...definition, description: 'reworded' }));
    const reworded = setupSearch(experiment, 10);
    t.notThrows(() => run.open(experiment, true, { table: reworded.tableRef, spaceHash: reworded.spaceHash }).close());
    writeFileSync(spaceFile, JSON.stringify({ ...definition, name: 'renamed' }));
    const edited = setupSearch(experiment, 10);
    t.throws(() => run.open(experiment, true, { table: edited.tableRef, spaceHash: edited.spaceHash }), {
      instanceOf: InputError,
      message:
        /searched space .*tiny-space\.json with definition hash [0-9a-f]+; it now has hash [0-9a-f]+ \(its file changed\): restore it to resume/,
    });
  },
);

test.serial(
  'search refuses: another experiment on --resume, an unreachable target, a table missing ops or at another resolution, an absent table, a proxy input too small, a segmentation dataset, an unknown space',
  async (t) => {
    const { dir, spaceFile, tableFile } = tinyFiles();
    const experiment = tinyExperiment(spaceFile, tableFile);
    const runDir = path.join(dir, 'run');
    await runSearch({ experiment, runDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setupSearch(experiment, 10));
    const other = tinyExperiment(spaceFile, tableFile, { seed: 4 });
    await t.throwsAsync(
      runSearch({ experiment: other, runDir, resume: true, evaluator: new SurrogateEvaluator(), command: 'test' }, setupSearch(other, 10)),
      { instanceOf: InputError, message: /ran another experiment: \$\.seed \(--seed\): \d+ vs 4 \(the run's value, then the one given\)/ },
    );
    await t.throwsAsync(
      runSearch({ experiment, runDir, evaluator: new SurrogateEvaluator(), command: 'test' }, setupSearch(experiment, 10)),
      { instanceOf: InputError, message: /already holds a search run/ },
    );
    t.throws(() => setupSearch(tinyExperiment(spaceFile, tableFile, { reward: { targetMs: 0.001, constraint: 'hard', w: -0.07 } }), 10), {
      instanceOf: InputError,
      message: /no architecture of space tiny can meet the target of 0\.00 ms .* fastest member takes/,
    });
    const partial = JSON.parse(readFileSync(tableFile, 'utf8'));
    const dropped = Object.keys(partial.entries)[5]!;
    delete partial.entries[dropped];
    const partialFile = path.join(dir, 'partial.json');
    writeFileSync(partialFile, JSON.stringify(partial));
    t.throws(() => setupSearch(tinyExperiment(spaceFile, partialFile), 10), {
      instanceOf: InputError,
      message: /lacks 1 ops of space tiny .*nas profile --space/,
    });
    t.throws(() => setupSearch(tinyExperiment(spaceFile, tableFile, { latency: { table: tableFile, resolution: 24, classes: 10 } }), 10), {
      instanceOf: InputError,
      message:
        /lacks \d+ ops of space tiny at 24x24 \(first missing: conv-in:24x24x1-.*\): it was measured at 16 px; set latency\.resolution/,
    });
    const absent = { table: path.join(dir, 'absent.json'), obtain: 'import it with nas table import', resolution: 16, classes: 10 };
    t.throws(() => setupSearch(tinyExperiment(spaceFile, tableFile, { latency: absent }), 10), {
      instanceOf: InputError,
      message: /absent\.json: no such latency table; import it with nas table import$/,
    });
    // Refused up front: a run would fail on its first member, its run directory written.
    const proxy = { ...experiment.proxy, resolution: 7 };
    t.throws(() => setupSearch(tinyExperiment(spaceFile, tableFile, { proxy }), 10), {
      instanceOf: InputError,
      message: 'no member of space tiny takes a 7x7 input (Too small: expected number to be >=8, got 7)',
    });
    const mosaic = { ...experiment.proxy, dataset: 'fashion-mosaic', resolution: 64 };
    t.throws(() => setupSearch(tinyExperiment(spaceFile, tableFile, { proxy: mosaic }), 10), {
      instanceOf: InputError,
      message: /^fashion-mosaic is a segmentation task \(per-pixel labels\) and a search's members classify: use fashion-mnist/,
    });
    t.throws(() => setupSearch(tinyExperiment('nonexistent-space', tableFile), 10), {
      instanceOf: InputError,
      message: /unknown space "nonexistent-space"/,
    });
  },
);

test("a resumed proxy search's ETA is the time per trial this process trained, not per trial the run has", (t) => {
  const trial = { accuracy: 0.5, latencyMs: 10, reward: 0.4 } as SearchProgress['last'];
  const started = Date.now() - 20_000;
  // 8 trials were kept from before; this process trained 2 in 20 s, and 2 remain.
  const line = searchProgressLine({ evaluator: 'proxy', trials: 10, trialsBefore: 8, budget: 12, best: trial, last: trial }, started);
  t.regex(line.text, /ETA 0:(19|20|21)$/);
  t.is(line.fraction, 10 / 12);
});
