/**
 * The NetAdapt run directory (NetAdaptRunDir) and the whole `nas netadapt` job (runNetAdaptJob):
 * the adaptation, the result's final training in the run's `final/` directory, summary.json.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { InputError, InterruptedError } from '../src/common/errors.js';
import { readJsonFile } from '../src/common/json-io.js';
import { TABLES_DIR } from '../src/latency-model/predict/load-table.js';
import { type NetAdaptJobProgress, type NetAdaptJobRequest, runNetAdaptJob } from '../src/netadapt/netadapt-job.js';
import { NETADAPT_RUN_FILES, NetAdaptRunDir, type ProposalRecord } from '../src/netadapt/netadapt-run.js';
import { readArchSpec } from '../src/search-space/io.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { runTrainJob } from '../src/trainer/train-job.js';
import { TRAIN_RUN_FILES, TrainerStateSchema, TrainRunDir } from '../src/trainer/train-run.js';
import { tinyImageFolder } from './helpers/folder.js';
import { specTable } from './helpers/tables.js';
import { tinySpec } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-netadapt-run-'));

test.before(async () => {
  await prepareBackend('auto');
});

/** A trained seed on a tiny image folder, its latency table, and a job request on them. */
async function seedJob(): Promise<{ request: NetAdaptJobRequest; out: string; phases: string[] }> {
  const dir = tmp();
  const folder = tinyImageFolder();
  const seed = tinySpec({ resolution: 16, channels: 1, classes: 2, name: 'seed' });
  const seedRun = path.join(dir, 'seed');
  const dataset = `folder:${folder}`;
  await runTrainJob({
    spec: seed,
    source: 'seed',
    dataset,
    config: { epochs: 1, batchSize: 16 },
    outDir: seedRun,
    backend: 'auto',
    command: 'test',
  });
  const tableFile = path.join(dir, 'table.json');
  writeFileSync(tableFile, JSON.stringify(specTable(seed)));
  const out = path.join(dir, 'na');
  const phases: string[] = [];
  const request: NetAdaptJobRequest = {
    seed,
    seedCheckpoint: seedRun,
    table: tableFile,
    settings: { targetRatio: 0.8, deltaRatio: 0.05, deltaDecay: 1, metric: 'accuracy', latencyResolution: 16, latencyClasses: 2 },
    dataset,
    finetune: { steps: 1, validationSamples: 8, seed: 2, parallel: 1 },
    final: { epochs: 1 },
    backend: 'auto',
    outDir: out,
    onProgress: (p: NetAdaptJobProgress) => {
      if (phases.at(-1) !== p.phase) phases.push(p.phase);
    },
  };
  return { request, out, phases };
}

test.serial('runNetAdaptJob adapts the seed, trains the result in final/ and writes summary.json', async (t) => {
  const { request, out, phases } = await seedJob();
  // Without --dataset, the one the seed trained on (an image folder of 2 classes).
  const summary = await runNetAdaptJob({ ...request, dataset: undefined });
  t.deepEqual(Object.keys(summary), ['steps', 'seedLatencyMs', 'finalLatencyMs', 'seedAccuracy', 'finalAccuracy', 'spec']);
  t.deepEqual(phases, ['netadapt', 'final-training']);
  const run = new NetAdaptRunDir(out);
  t.is(summary.spec, run.file('final'));
  t.true(summary.finalLatencyMs <= 0.8 * summary.seedLatencyMs + 1e-9);
  const record = run.readSummary();
  t.like(record, { ...summary, kind: 'netadapt-summary', metric: 'accuracy', seed: 2 });
  t.is(record.targetMs, run.readHistory().targetMs);
  const finalRun = new TrainRunDir(path.join(out, NETADAPT_RUN_FILES.finalTraining));
  t.is(record.finalCheckpoint, finalRun.file('checkpoint'));
  t.is(typeof record.testTop1, 'number');
  t.is(finalRun.readCheckpoint().state.epoch, 1);
  t.is(record.finalAccuracy, finalRun.readCheckpoint().state.history[0]!.valTop1);
  // The whole run's wall time: the adaptation's (in history.json) and the final training's.
  const adaptationSeconds = run.readHistory().wallSeconds!;
  t.true(adaptationSeconds > 0);
  t.true(record.wallSeconds > adaptationSeconds);
  t.is(typeof record.sessionWallSeconds, 'number');

  await t.throwsAsync(runNetAdaptJob(request), { instanceOf: InputError, message: /already holds a NetAdapt run/ });
  t.is(run.readHistory().dataset, request.dataset, 'recorded with its absolute path');
  // The same folder spelled relative to the working directory is the same dataset: the finished run resumes.
  const relative = `folder:${path.relative(process.cwd(), request.dataset!.slice('folder:'.length))}`;
  t.not(relative, request.dataset);
  t.deepEqual(await runNetAdaptJob({ ...request, dataset: relative, resume: true }), summary);
  await t.throwsAsync(runNetAdaptJob({ ...request, settings: { ...request.settings, targetRatio: 1.5 } }), {
    instanceOf: InputError,
    message: /--target-ratio must be between 0 and 1, got 1\.5/,
  });
  await t.throwsAsync(runNetAdaptJob({ ...request, dataset: 'fashion-mnist', outDir: `${out}-fashion` }), {
    instanceOf: InputError,
    message: /the seed classifies 2 classes and fashion-mnist has 10: give --dataset the dataset the seed was trained on/,
  });
});

test.serial('an interrupted final training is saved at its step and continued by a resumed job', async (t) => {
  const { request, out } = await seedJob();
  const controller = new AbortController();
  await t.throwsAsync(
    runNetAdaptJob({
      ...request,
      final: { epochs: 2 },
      signal: controller.signal,
      onProgress: (p) => p.phase === 'final-training' && controller.abort(),
    }),
    {
      instanceOf: InterruptedError,
      message:
        /^NetAdapt's final training interrupted at epoch 2, step \d+: progress saved in .*final.*checkpoint; continue with nas netadapt --out \S+ --resume$/,
    },
  );
  const finalRun = new TrainRunDir(path.join(out, NETADAPT_RUN_FILES.finalTraining));
  const saved = finalRun.readCheckpoint().state;
  t.is(saved.epoch, 1);
  let steps = 0;
  const summary = await runNetAdaptJob({
    ...request,
    final: { epochs: 2 },
    resume: true,
    onProgress: (p) => {
      if (p.phase === 'final-training') steps++;
    },
  });
  const state = finalRun.readCheckpoint().state;
  t.is(steps, state.globalStep - saved.globalStep, 'the resumed job trains only the steps that were left');
  t.deepEqual(state.history[0], saved.history[0]);
  t.is(state.epoch, 2);
  t.is(summary.finalAccuracy, state.history[1]!.valTop1);
});

test('NetAdaptRunDir: layout, proposals, and validated reads that name the file and the JSON path', async (t) => {
  const dir = tmp();
  const run = new NetAdaptRunDir(path.join(dir, 'na'));
  const ref = { name: 't', file: '/t.json', hash: 'abc', device: 'phone', runtime: 'tflite', version: null };
  const identity = { seedHash: 'hash', table: ref, dataset: 'fashion-mnist' };
  t.throws(() => run.open(identity, true), { instanceOf: InputError, message: /no history\.json to resume from; drop --resume/ });
  t.is(run.open(identity, false), null);
  const proposalDir = run.proposalDir(3, 0);
  t.is(proposalDir, path.join(dir, 'na', 'steps', '003', 'proposal-01'));
  t.is(run.readProposal(proposalDir), null);
  const proposal: ProposalRecord = {
    kind: 'expansion',
    target: ['b1'],
    description: 'b1 expansion 32 -> 24',
    latencyMs: 1.5,
    accuracy: 0.5,
    dir: proposalDir,
    error: null,
  };
  await run.writeProposal(proposal, tinySpec());
  t.deepEqual(run.readProposal(proposalDir), proposal);

  writeFileSync(run.file('history'), JSON.stringify({ schemaVersion: 1, kind: 'netadapt-history', steps: 'none' }));
  t.throws(() => run.open(identity, false), { instanceOf: InputError, message: /already holds a NetAdapt run/ });
  t.throws(() => run.open(identity, true), { instanceOf: InputError, message: /history\.json: .*\$\.steps: /m });
  t.throws(() => run.readSummary(), { instanceOf: InputError, message: /no summary\.json \(the run has not finished\)/ });
  writeFileSync(run.file('summary'), JSON.stringify({ schemaVersion: 1, kind: 'netadapt-summary', steps: 1.5 }));
  t.throws(() => run.readSummary(), { instanceOf: InputError, message: /summary\.json: \$\.steps: / });
  t.is(run.finalTraining().dir, path.join(dir, 'na', NETADAPT_RUN_FILES.finalTraining));
  t.is(run.finalTraining().file('checkpoint'), path.join(dir, 'na', 'final', TRAIN_RUN_FILES.checkpoint));
});

/** A logger whose messages at info and above are kept in `lines`. */
function recordingLogger() {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
  return { log, lines };
}

/** The fine-tune settings each proposal of the run trained with, as its checkpoint records them. */
function proposalConfigs(out: string): { trainSamples: number | null; validationSamples: number | null }[] {
  const history = new NetAdaptRunDir(out).readHistory();
  return history.steps.flatMap((s) =>
    s.proposals.map((p) => {
      const file = path.join(p.dir, 'checkpoint', 'state.json');
      return TrainerStateSchema.parse(readJsonFile(file)).config;
    }),
  );
}

test.serial(
  "a resumed job runs on the run's own settings, given with --out and --resume alone; others given are named as ignored",
  async (t) => {
    const { request, out } = await seedJob();
    const started = { ...request, settings: { ...request.settings, latencyMissing: 'estimate' as const }, final: { epochs: 0 } };
    const startedWith = { ...started, finetune: { ...started.finetune, steps: 2 } };
    const controller = new AbortController();
    await t.throwsAsync(runNetAdaptJob({ ...startedWith, signal: controller.signal, onProgress: () => controller.abort() }), {
      instanceOf: InterruptedError,
      message: new RegExp(`interrupted in step 1: .*; continue with nas netadapt --out ${out} --resume$`),
    });
    const tableFile = request.table!;
    const table = readFileSync(tableFile, 'utf8');
    const alone = { outDir: out, resume: true, settings: {}, finetune: { parallel: 1 }, backend: 'auto' as const };
    // The run's own table is what a resume checks: changed on disk, it is refused; restored, it resumes.
    const changed = JSON.parse(table);
    const [key] = Object.keys(changed.entries);
    changed.entries[key!].median += 1;
    writeFileSync(tableFile, JSON.stringify(changed));
    await t.throwsAsync(runNetAdaptJob(alone), {
      instanceOf: InputError,
      message: new RegExp(`was priced by synthetic \\(.*\\), and ${tableFile} now has hash [0-9a-f]{16}: restore that table`),
    });
    writeFileSync(tableFile, table);
    const resumed = recordingLogger();
    const summary = await runNetAdaptJob({ ...alone, log: resumed.log });
    t.false(
      resumed.lines.some((line) => /ignored/.test(line)),
      resumed.lines.join('\n'),
    );
    const history = new NetAdaptRunDir(out).readHistory();
    t.like(history.start, {
      settings: { latencyMissing: 'estimate', deltaRatio: 0.05 },
      finetune: { steps: 2, validationSamples: 8, seed: 2 },
    });
    t.true(history.steps.every((s) => s.deltaMs <= 0.05 * history.seedLatencyMs + 1e-9));
    for (const config of proposalConfigs(out)) t.like(config, { trainSamples: 64, validationSamples: 8 });

    const again = recordingLogger();
    const other = {
      ...alone,
      table: path.join(path.dirname(tableFile), 'other.json'),
      settings: { latencyMissing: 'measure' as const, deltaRatio: 0.05, metric: 'ratio' as const },
      finetune: { steps: 100, validationSamples: 8, parallel: 2 },
    };
    t.deepEqual(await runNetAdaptJob({ ...other, log: again.log }), summary);
    const ignored = again.lines.filter((line) => /ignored/.test(line));
    t.is(ignored.length, 1);
    t.regex(
      ignored[0]!,
      /^a resumed run keeps its own settings: --table \S+other\.json \(the run's: \S+table\.json\), --metric ratio \(the run's: accuracy\), --latency-missing measure \(the run's: estimate\), --finetune-steps 100 \(the run's: 2\) given again and ignored \(only --parallel changes a run\)$/,
    );

    // A run started before its settings were recorded: what it lacks is asked for, then recorded.
    const { start: _start, ...older } = new NetAdaptRunDir(out).readHistory();
    writeFileSync(path.join(out, NETADAPT_RUN_FILES.history), JSON.stringify(older));
    await t.throwsAsync(runNetAdaptJob(alone), {
      instanceOf: InputError,
      message: /was started by an older nas that did not record its --validation-samples, --seed, --final-epochs: resume with them/,
    });
    writeFileSync(path.join(out, NETADAPT_RUN_FILES.history), JSON.stringify({ ...older, settings: { targetRatio: 0.8 } }));
    await t.throwsAsync(runNetAdaptJob(alone), {
      instanceOf: InputError,
      message: /history\.json does not record the run's settings: choose a new --out$/,
    });
    writeFileSync(path.join(out, NETADAPT_RUN_FILES.history), JSON.stringify(older));
    const given = { ...alone, finetune: { validationSamples: 8, seed: 2, parallel: 1 }, final: { epochs: 0 } };
    t.deepEqual(await runNetAdaptJob(given), summary);
    t.like(new NetAdaptRunDir(out).readHistory().start, { finetune: { steps: 2, validationSamples: 8, seed: 2 }, final: { epochs: 0 } });
  },
);

test.serial('without --table, a seed priced on a table (provenance.deployment.table) is adapted on that table', async (t) => {
  const { request, out } = await seedJob();
  const name = `test-netadapt-${process.pid}`;
  const deployed = (table: string) => ({
    ...request.seed!,
    provenance: { ...request.seed!.provenance, deployment: { resolution: 16, classes: 2, table, missing: 'estimate' } },
  });
  const { latencyResolution: _r, latencyClasses: _c, ...settings } = request.settings;
  const job = { ...request, table: undefined, settings, final: { epochs: 0 } };
  await t.throwsAsync(runNetAdaptJob({ ...job, seed: deployed('no-such-table') }), {
    instanceOf: InputError,
    message:
      /^seed was priced on table no-such-table \(its provenance\.deployment\.table\), which is not at \S+no-such-table\.json: give that table with --table FILE/,
  });
  // Given --table, the recorded one is not looked for (a target above the seed's stops it right after pricing).
  const given = { ...job, table: request.table, seed: deployed('no-such-table'), outDir: `${out}-given` };
  await t.throwsAsync(runNetAdaptJob({ ...given, settings: { ...settings, targetRatio: undefined, targetMs: 1e9 } }), {
    instanceOf: InputError,
    message: /not below the seed's/,
  });
  const file = path.join(TABLES_DIR, `${name}.json`);
  t.teardown(() => rmSync(file, { force: true }));
  // The table lacks one of the seed's ops, which its search estimated (as a phone's table does).
  const table = readJsonFile(request.table!) as { entries: Record<string, unknown> };
  const [lacking] = Object.keys(table.entries).filter((k) => k.startsWith('bneck'));
  delete table.entries[lacking!];
  writeFileSync(file, JSON.stringify({ ...table, name }));
  const { log, lines } = recordingLogger();
  const summary = await runNetAdaptJob({ ...job, seed: deployed(name), log });
  t.true(summary.finalLatencyMs <= 0.8 * summary.seedLatencyMs + 1e-9);
  const history = new NetAdaptRunDir(out).readHistory();
  t.is(history.table, name);
  t.is(history.tableRef?.file, file);
  // Its result names that table's file, so that nas latency prices it there without --table.
  t.like(readArchSpec(summary.spec).provenance, { deployment: { table: name, tableFile: file } });
  t.true(lines.includes(`latency is priced on table ${name}, the seed's provenance.deployment.table (unless --table)`), lines.join('\n'));
});
