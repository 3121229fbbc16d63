import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError, InterruptedError, ValidationError } from '../src/common/errors.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { jobForSpecs } from '../src/latency-model/measure/job.js';
import { atReferenceSpeed, DEFAULT_PROFILER, PROBE_KEY } from '../src/latency-model/measure/profile.js';
import { fitCorrection, profileToTable } from '../src/latency-model/measure/profile-run.js';
import { summarisePoints, validateTable } from '../src/latency-model/measure/validation.js';
import { runLatencyValidation, ValidationRunDir, validationSummary } from '../src/latency-model/measure/validation-run.js';
import type { GateWait } from '../src/latency-model/measure/whole-model.js';
import { importTable } from '../src/latency-model/predict/import.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { opKey, parseOpKey, specOps, unitOp } from '../src/latency-model/predict/ops.js';
import { MissingKeysError, predictLatency } from '../src/latency-model/predict/predict.js';
import { tableHash, tableLabels } from '../src/latency-model/predict/table-ref.js';
import { type LatencyTable, readLatencyTable } from '../src/latency-model/predict/table-schema.js';
import { ARCHSPEC_SCHEMA_VERSION, type Block, parseArchSpec } from '../src/search-space/archspec.js';
import { resolve } from '../src/search-space/resolve.js';
import { registerSpace } from '../src/search-space/space.js';
import { getSpace } from '../src/search-space/spaces.js';
import { zooNames, zooSpec } from '../src/search-space/zoo/index.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { nas } from './helpers/cli.js';
import { latencyTable } from './helpers/tables.js';
import { tinySpec } from './helpers/tiny.js';

const SHARED_TABLES = path.resolve(PROJECT_ROOT, '..', 'shared', 'reference', 'latency-tables');
const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-latency-'));
const FAST = { ...DEFAULT_PROFILER, minRuns: 3, minMillis: 0, warmupRuns: 1 };

test('every op of every zoo model has a key that parses back to the same op', (t) => {
  for (const name of zooNames()) {
    for (const unit of resolve(zooSpec(name)).units) {
      const op = unitOp(unit);
      t.deepEqual(parseOpKey(opKey(op)), { ...op, in: [...op.in] }, `${name} ${unit.id}`);
    }
  }
});

test('keys name the block as a unit: input, expansion, output, kernel, stride, activation, SE, shortcut', (t) => {
  const ops = specOps(zooSpec('mobilenetv3-large-1.0'));
  t.is(ops.length, 20);
  t.is(ops[0]!.key, 'conv-in:224x224x3-out:16-k:3-s:2-act:hswish');
  t.is(ops[1]!.key, 'dsconv-in:112x112x16-out:16-k:3-s:1-act:relu-res');
  t.is(ops[5]!.key, 'bneck-in:28x28x40-exp:120-out:40-k:5-s:1-act:relu-se:32.hsigmoid.relu-res');
  t.deepEqual(
    ops.slice(-4).map((o) => o.key),
    ['conv-in:7x7x160-out:960-k:1-s:1-act:hswish', 'pool-in:7x7x960', 'dense-in:960-out:1280-act:hswish', 'dense-in:1280-out:1000'],
  );
  // Two specs sharing a block share its key: V3-Large blocks 5 and 6 are identical.
  t.is(ops[5]!.key, ops[6]!.key);
  t.is(new Set(ops.map((o) => o.key)).size, 17); // blocks 5/6, 9/10 and 14/15 repeat
  t.is(parseOpKey('bneck-in:7x7-out:3'), null);
  t.is(parseOpKey('softmax-in:3'), null);
});

function fakeTable(entries: Record<string, number>, overheadMs = 0.5, resolutions = [32]): LatencyTable {
  const device = { name: 'test', runtime: 'tfjs-layers', backend: 'wasm', threads: 1, cpu: 'test', tfjsVersion: null, date: 'now' };
  return latencyTable(entries, { name: 'fake', resolutions, overheadMs, device });
}

test('the prediction is the sum of the entries plus the overhead; missing keys are listed', (t) => {
  const spec = tinySpec({ resolution: 32, channels: 3 });
  const ops = specOps(spec);
  const table = fakeTable(Object.fromEntries(ops.map((o, i) => [o.key, i + 1])));
  const p = predictLatency(spec, table);
  t.is(p.sumMs, (ops.length * (ops.length + 1)) / 2);
  t.is(p.totalMs, p.sumMs + 0.5);
  t.deepEqual(p.estimated, []);
  const partial = fakeTable(Object.fromEntries(ops.slice(2).map((o) => [o.key, 1])));
  const err = t.throws(() => predictLatency(spec, partial), { instanceOf: MissingKeysError });
  t.deepEqual(err!.keys, [ops[0]!.key, ops[1]!.key]);
  t.regex(
    err!.message,
    /no entry for 2 ops of this spec: conv-in:32x32x3.*; profile them into it \(nas profile --arch SPEC --out TABLE\) or estimate them/,
  );
  // A phone's table (imported, or posted by its browser) is not completed by profiling this machine: only estimates are offered.
  for (const phone of [
    { ...partial, source: { command: 'test', importedFrom: 'note10.yaml' }, device: { ...partial.device, name: 'Note10' } },
    { ...partial, device: { ...partial.device, name: 'Pixel', userAgent: 'Mozilla/5.0 (Linux; Android 14)' } },
  ]) {
    const refused = t.throws(() => predictLatency(spec, phone), { instanceOf: MissingKeysError });
    t.regex(
      refused!.message,
      /; it was measured on (Note10|Pixel), which profiling this machine cannot add to: estimate them \(--estimate: .*--interpolate: /,
    );
    t.false(refused!.message.includes('nas profile'), refused!.message);
  }
  t.throws(() => predictLatency(tinySpec({ resolution: 64, channels: 3 }), table), {
    instanceOf: InputError,
    message: /profiled at 32x32, the spec is 64x64/,
  });
});

test("nas latency of a model at a resolution the table lacks exits 2 offering the table's resolution, then a profile command for its own", async (t) => {
  const res = await nas('latency', '--arch', 'ssdlite-mobilenetv3-small');
  t.is(res.code, 2, res.stderr);
  t.is(
    res.stderr,
    'nas: table default was profiled at 224x224, the spec is 320x320: price it at 224 (--resolution 224), or profile a table at 320 ' +
      '(nas profile --arch ssdlite-mobilenetv3-small --resolution 320 --out default-320.json) and price on it (--table default-320.json)\n',
  );
});

test('--interpolate estimates a missing width between measured neighbours and says so', (t) => {
  const spec = tinySpec({ resolution: 32, channels: 3 });
  const ops = specOps(spec);
  const entries: Record<string, number> = Object.fromEntries(ops.map((o) => [o.key, 1]));
  const target = ops.find((o) => o.id === 'b2')!;
  if (target.op.op !== 'bneck') return t.fail(`b2 is a ${target.op.op}, not a bneck`);
  delete entries[target.key];
  const narrow = { ...target.op, exp: target.op.exp / 2 };
  const wide = { ...target.op, exp: target.op.exp * 2 };
  entries[opKey(narrow)] = 2;
  entries[opKey(wide)] = 6;
  const p = predictLatency(spec, fakeTable(entries), { interpolate: true });
  const estimate = p.ops.find((o) => o.id === 'b2')!;
  t.is(estimate.source, 'interpolated');
  t.true(estimate.ms > 2 && estimate.ms < 6, String(estimate.ms));
  t.deepEqual(p.estimated, [target.key]);
});

test('tables: foreign, corrupt and malformed files are one-line errors', (t) => {
  const dir = tmp();
  const write = (name: string, content: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  };
  t.throws(() => readLatencyTable(write('spec.json', JSON.stringify(zooSpec('mnasnet-a1')))), {
    instanceOf: InputError,
    message: /spec\.json: an ArchSpec \(kind "archspec"\), not a latency table: nas describe \S+spec\.json prints its layers$/,
  });
  t.throws(() => readLatencyTable(write('other.json', JSON.stringify({ kind: 'other' }))), {
    instanceOf: InputError,
    message: /not a latency table \(kind is "other"/,
  });
  t.throws(() => readLatencyTable(write('broken.json', '{"kind": "latency-table",')), {
    instanceOf: InputError,
    message: /broken\.json: not valid JSON/,
  });
  const bad = {
    ...fakeTable({ 'conv-in:8x8x3-out:8-k:3-s:2-act:relu': 1 }),
    entries: {
      'conv-in:8x8x3-out:8-k:3-s:2-act:relu': { mean: -1, median: 1, std: 0, runs: 1 },
      nonsense: { mean: 1, median: 1, std: 0, runs: 1 },
    },
  };
  const err = t.throws(() => readLatencyTable(write('bad.json', JSON.stringify(bad))), { instanceOf: ValidationError });
  t.regex(err!.message, /bad\.json: .*mean.*>=0/);
  t.regex(err!.message, /\$\.entries\.nonsense: not a canonical op key/);
  t.regex(err!.message, /keys look like bneck-in:28x28x40-exp:120-out:40-k:5-s:1-act:relu-se:32\.hsigmoid\.relu-res, as nas profile/);
  // A phone's YAML table given where a JSON one is expected: said to be imported first; a bare name is a file too.
  const yaml = write('note10.yaml', 'AvgPool2D-input:7x7x1280: {count: 10, mean: 0.1}\n');
  t.throws(() => loadTable(yaml), {
    instanceOf: InputError,
    message: /note10\.yaml: a YAML table .* import it first with nas table import --format ofa\|proxyless/,
  });
  t.throws(() => loadTable('absent.yaml'), { instanceOf: InputError, message: /^absent\.yaml: no such latency table/ });
});

const sharedTest = existsSync(SHARED_TABLES) ? test : test.skip;

sharedTest('imports the Once-for-All Note10 tables (all five resolutions)', (t) => {
  for (const r of [160, 176, 192, 208, 224]) {
    const table = importTable(path.join(SHARED_TABLES, `ofa-note10-${r}.yaml`), 'ofa', 'test');
    t.deepEqual(table.resolutions, [r]);
    t.is(Object.keys(table.entries).length, 96);
    t.is(table.overheadMs, 0);
  }
  const t224 = importTable(path.join(SHARED_TABLES, 'ofa-note10-224.yaml'), 'ofa', 'test');
  t.truthy(t224.entries['bneck-in:112x112x24-exp:144-out:32-k:3-s:2-act:relu']);
  t.truthy(t224.entries['dsconv-in:112x112x24-out:24-k:3-s:1-act:relu-res']);
  t.truthy(t224.entries['dense-in:1152-out:1536-act:hswish']);
});

sharedTest('imports the ProxylessNAS table and predicts a MobileNetV2-like path as the plain sum of its means', (t) => {
  const table = importTable(path.join(SHARED_TABLES, 'proxylessnas-mobile.yaml'), 'proxyless', 'test');
  t.is(Object.keys(table.entries).length, 73);
  // stem 32, ds 16, then stages (width, repeats, stride) with expansion 6, kernel 3.
  const blocks: Block[] = [{ type: 'dsconv', id: 'b1', kernel: 3, stride: 1, out: 16, activation: 'relu6', se: null, residual: false }];
  let channels = 16;
  for (const [out, n, s] of [
    [24, 4, 2],
    [40, 4, 2],
    [80, 4, 2],
    [96, 4, 1],
    [192, 4, 2],
    [320, 1, 1],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      blocks.push({
        type: 'bneck',
        id: `b${blocks.length + 1}`,
        kernel: 3,
        stride,
        exp: channels * 6,
        out,
        activation: 'relu6',
        se: null,
        residual: stride === 1 && channels === out,
      });
      channels = out;
    }
  }
  const spec = parseArchSpec({
    schemaVersion: ARCHSPEC_SCHEMA_VERSION,
    kind: 'archspec',
    name: 'proxyless-path',
    provenance: { command: 'test', seed: null },
    input: { resolution: 224, channels: 3 },
    stem: { id: 'stem', kernel: 3, stride: 2, out: 32, activation: 'relu6' },
    blocks,
    head: { conv: { id: 'head_conv', out: 1280, activation: 'relu6' }, pool: 'avg', preLogits: null },
    classes: 1000,
    dropout: 0,
  });
  const p = predictLatency(spec, table);
  const sum = specOps(spec).reduce((s, o) => s + table.entries[o.key]!.mean, 0);
  t.true(Math.abs(p.totalMs - sum) < 1e-9);
  t.true(p.totalMs > 50 && p.totalMs < 200, `${p.totalMs} ms`);
});

// Keys as the two projects write them: Once-for-All gives the absolute expanded width and se/hs
// flags, ProxylessNAS the expansion ratio and no flags.
const OFA_YAML = `Conv-input:224x224x3-output:112x112x24:
  count: 500
  mean: 0.99
expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0:
  count: 50
  mean: 1.2
Conv_2-input:1x1x1152-output:1x1x1536:
  count: 500
  mean: 0.76
`;
const PROXYLESS_YAML = `Conv-input:224x224x3-output:112x112x32:
  count: 500
  mean: 1.1
expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0:
  count: 50
  mean: 2.3
Logits-input:7x7x1280-output:1000:
  count: 500
  mean: 0.8
`;

test('import refuses a Once-for-All table read as --format proxyless and the reverse, naming the right format', (t) => {
  const dir = tmp();
  const ofa = path.join(dir, 'ofa-like.yaml');
  const proxyless = path.join(dir, 'proxyless-like.yaml');
  writeFileSync(ofa, OFA_YAML);
  writeFileSync(proxyless, PROXYLESS_YAML);
  // Before, the first gave bneck-in:112x112x24-exp:3456-... (144 read as a ratio) and "3 entries".
  t.throws(() => importTable(ofa, 'proxyless', 'test'), {
    instanceOf: InputError,
    message: /ofa-like\.yaml: .*expanded_conv-input:112x112x24-output:56x56x32-expand:144.*Once-for-All.*--format ofa/,
  });
  t.throws(() => importTable(proxyless, 'ofa', 'test'), {
    instanceOf: InputError,
    message:
      /proxyless-like\.yaml: .*expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0.*ProxylessNAS.*--format proxyless/,
  });
  t.truthy(importTable(ofa, 'ofa', 'test').entries['bneck-in:112x112x24-exp:144-out:32-k:3-s:2-act:relu']);
  t.truthy(importTable(proxyless, 'proxyless', 'test').entries['bneck-in:112x112x16-exp:48-out:24-k:3-s:2-act:relu6']);
});

sharedTest('the published tables are refused under the other format', (t) => {
  t.throws(() => importTable(path.join(SHARED_TABLES, 'ofa-note10-224.yaml'), 'proxyless', 'test'), {
    instanceOf: InputError,
    message: /--format ofa/,
  });
  t.throws(() => importTable(path.join(SHARED_TABLES, 'proxylessnas-mobile.yaml'), 'ofa', 'test'), {
    instanceOf: InputError,
    message: /--format proxyless/,
  });
});

test('an imported table records the device, runtime and version it was measured with: the options given, else what the file says', (t) => {
  const dir = tmp();
  const ofa = path.join(dir, 'ofa-note10-like.yaml');
  writeFileSync(ofa, OFA_YAML);
  const proxyless = path.join(dir, 'proxyless-like.yaml');
  writeFileSync(proxyless, PROXYLESS_YAML);
  t.deepEqual(tableLabels(importTable(ofa, 'ofa', 'test')), {
    device: 'Samsung Galaxy Note10 (Once-for-All table ofa-note10-like)',
    runtime: 'tflite',
    version: null,
  });
  t.deepEqual(tableLabels(importTable(proxyless, 'proxyless', 'test')), {
    device: 'mobile phone (ProxylessNAS table proxyless-like)',
    runtime: 'tflite',
    version: null,
  });
  const labelled = importTable(proxyless, 'proxyless', 'test', { device: 'Pixel 1', runtime: 'tflite-cpu', runtimeVersion: '1.10' });
  t.deepEqual(tableLabels(labelled), { device: 'Pixel 1', runtime: 'tflite-cpu', version: '1.10' });
  // Labels do not change which table it is: the hash covers the prices only.
  t.is(tableHash(labelled), tableHash(importTable(proxyless, 'proxyless', 'test')));
  t.deepEqual(tableLabels(fakeTable({ 'pool-in:7x7x8': 1 })), { device: 'test', runtime: 'tfjs-layers (wasm)', version: null });
});

test('import refuses a file of the wrong format', (t) => {
  const file = path.join(tmp(), 'x.yaml');
  writeFileSync(file, 'Something-input:1x1x1-output:1:\n  count: 1\n  mean: 1\n');
  t.throws(() => importTable(file, 'ofa', 'test'), { instanceOf: InputError, message: /unknown op "Something"/ });
});

test.serial('profiling is resumable: an interrupted run keeps its entries and a rerun completes them', async (t) => {
  await prepareBackend('auto');
  const out = path.join(tmp(), 'table.json');
  const job = jobForSpecs([tinySpec({ resolution: 16, channels: 3 })]);
  const controller = new AbortController();
  let seen = 0;
  const gate = { minSpeed: 0.95, maxWaitSeconds: 0 }; // tests run side by side: never wait for a quiet machine
  const request = {
    name: 'resume',
    ops: job.ops,
    calibration: job.calibration,
    resolutions: [16],
    out,
    settings: FAST,
    command: 'test',
    gate,
  };
  await t.throwsAsync(profileToTable({ ...request, signal: controller.signal, onProgress: () => ++seen === 2 && controller.abort() }), {
    instanceOf: InterruptedError,
    message: /kept in .*table\.json; run the same command again/,
  });
  t.is(Object.keys(readLatencyTable(out).entries).length, 2);
  const result = await profileToTable(request);
  t.is(result.reused, 2);
  t.is(result.measured, job.ops.length - 2);
  t.is(Object.keys(result.table.entries).length, job.ops.length);
  t.regex(result.table.device.runtimeVersion ?? '', /^tfjs \d+\.\d+\.\d+ \((wasm|cpu|tensorflow)\), Node v\d+\.\d+\.\d+$/);
  t.is(tableLabels(result.table).version, result.table.device.runtimeVersion!);
  t.is(result.table.overheadFit!.models.length, 1);
  const p = predictLatency(job.calibration[0]!, result.table);
  t.true(Math.abs(p.totalMs - result.table.overheadFit!.models[0]!.measuredMs) < 1e-9, 'one calibration model is fitted exactly');
  t.is(result.table.probe?.key, PROBE_KEY, 'the table records the speed probe its entries are scaled to');
  t.is(readLatencyTable(out).probe?.ms, result.table.probe?.ms, "a resumed run keeps the first run's reference speed");

  // Validation against this table: whole models timed as they run and scaled by the probe.
  const spec = job.calibration[0]!;
  const space = { name: 'tiny', description: 'one model', resolution: 16, sample: () => spec, units: () => [] };
  const report = await validateTable({ table: result.table, space, samples: 2, seed: 0, settings: FAST, gate });
  t.is(report.samples, 2);
  for (const point of report.points)
    t.true(point.rawMs > 0 && point.measuredMs > 0 && Math.abs(point.predictedMs - p.totalMs) < 1e-9, JSON.stringify(point));
  t.true(report.kendallTau >= -1 && report.raw.mape >= 0);

  // The validation run: the same, with its record and plot written to its directory.
  registerSpace({ ...space, name: 'latency-test-one-model' });
  const dir = path.join(tmp(), 'out');
  const run = await runLatencyValidation({ table: result.table, space: 'latency-test-one-model', samples: 2, seed: 0, dir, gate });
  t.deepEqual(run.files, {
    record: path.join(dir, 'latency-validation-resume.json'),
    plot: path.join(dir, 'latency-validation-resume.svg'),
  });
  const record = new ValidationRunDir(dir, 'resume').readRecord();
  t.like(record, { schemaVersion: 1, kind: 'latency-validation', space: 'latency-test-one-model', seed: 0, samples: 2, table: 'resume' });
  t.deepEqual(record.points, run.report.points);
  t.is(run.summary.mape, record.mape);
  t.regex(readFileSync(run.files.plot, 'utf8'), /^<svg[\s\S]*predicted vs measured \(resume, 2 models\)[\s\S]*<\/svg>\n?$/);
});

/** A table profiled here for one tiny model, and a space that yields it: what a validation needs, in a few seconds. */
let tinyValidation: Promise<{ table: LatencyTable; space: string }> | null = null;
function tinyValidationSetup(): Promise<{ table: LatencyTable; space: string }> {
  tinyValidation ??= (async () => {
    await prepareBackend('auto');
    const job = jobForSpecs([tinySpec({ resolution: 16, channels: 3 })]);
    const gate = { minSpeed: 0.95, maxWaitSeconds: 0 };
    const request = { name: 'tiny', ops: job.ops, calibration: [], resolutions: [16], settings: FAST, command: 'test', gate };
    const { table } = await profileToTable({ ...request, out: path.join(tmp(), 'tiny.json') });
    const spec = job.calibration[0]!;
    registerSpace({ name: 'latency-test-tiny', description: 'one model', resolution: 16, sample: () => spec, units: () => [] });
    return { table, space: 'latency-test-tiny' };
  })();
  return tinyValidation;
}

test.serial('validation says when it waits at the speed gate, and waits at most maxWaitSeconds per model in all', async (t) => {
  const { table, space } = await tinyValidationSetup();
  // A machine that never reaches the gate's speed (2x its full speed): every timing would wait.
  // Before, each of the 2 models waited up to 1 s per attempt (2 attempts) in each of 2 passes and
  // 3 extra passes, silently: 20 s of waiting, and 20 timings, with the progress stuck at "4/4".
  const gate = { minSpeed: 2, maxWaitSeconds: 1 };
  const waits: GateWait[] = [];
  const started = performance.now();
  const run = await runLatencyValidation({ table, space, samples: 2, seed: 0, dir: tmp(), gate, onWait: (w) => waits.push(w) });
  const seconds = (performance.now() - started) / 1000;
  t.is(run.report.samples, 2);
  t.true(waits.length > 0, 'the wait is reported');
  t.like(waits[0], { minSpeed: 2, maxWaitSeconds: 1 });
  t.true(waits.every((w) => w.speed > 0 && w.waitedSeconds >= 0 && w.totalWaitLeftSeconds <= 2));
  const waited = Math.max(...waits.map((w) => w.totalWaitedSeconds));
  t.true(waited <= 2 + 1.5, `waited ${waited.toFixed(1)} s in all, budget 2 s`);
  // That a timing below the gate's speed is not retried once the waiting is used up is
  // whole-model.test.ts's (speedFloor): how long this run takes depends on the machine's load.
  t.log(`took ${seconds.toFixed(1)} s`);
});

test.serial('validation writes its record as models are timed, and a stop keeps the partial record', async (t) => {
  const { table, space } = await tinyValidationSetup();
  const dir = tmp();
  const controller = new AbortController();
  const records: { samples: number; complete?: boolean }[] = [];
  const gate = { minSpeed: 0.95, maxWaitSeconds: 0 };
  const runDir = new ValidationRunDir(dir, table.name);
  const onProgress = (done: number) => {
    records.push(runDir.readRecord());
    if (done === 1) controller.abort();
  };
  const err = await t.throwsAsync(
    runLatencyValidation({ table, space, samples: 2, seed: 0, dir, gate, onProgress, signal: controller.signal }),
    { instanceOf: InterruptedError },
  );
  t.regex(err!.message, /stopped after timing 1 of 2 models: partial results in .*latency-validation-tiny\.json/);
  t.like(records[0], { samples: 1, requested: 2, complete: false });
  const kept = runDir.readRecord();
  t.like(kept, { samples: 1, requested: 2, complete: false });
  t.is(kept.points.length, 1);
  t.true(existsSync(runDir.file('plot')));
  // A rerun without --resume is refused; a resume times only what is left, with the run's draw.
  await t.throwsAsync(runLatencyValidation({ table, space, samples: 2, seed: 0, dir, gate }), {
    instanceOf: InputError,
    message: /a validation of 1 of 2 models .* is already there; give --resume to continue it, --force to start over/,
  });
  let timedAgain = 0;
  const resumed = await runLatencyValidation({
    table,
    space: 'ignored-on-resume',
    samples: 1,
    seed: 9,
    dir,
    gate,
    resume: true,
    onProgress: () => timedAgain++,
  });
  t.like(runDir.readRecord(), { samples: 2, requested: 2, complete: true, space, seed: 0 });
  // The kept timings are the first of their models' (the run's second pass adds to them).
  for (const point of kept.points)
    t.deepEqual(resumed.report.points.find((p) => p.name === point.name)?.timings?.slice(0, point.timings!.length), point.timings);
  t.true(resumed.report.points.every((p) => p.timings!.length >= 2 && p.measuredMs === Math.min(...p.timings!.map((x) => x.measuredMs))));
  const fresh = await validateTable({ table, space: getSpace(space), samples: 2, seed: 0, settings: FAST, gate });
  t.deepEqual(
    resumed.report.points.map((p) => p.name),
    fresh.points.map((p) => p.name),
    'the same models as a run never stopped',
  );
  t.true(timedAgain >= 4, 'progress counts every timing, those kept included');
  await t.throwsAsync(runLatencyValidation({ table, space, samples: 2, seed: 0, dir, gate, resume: true }), {
    instanceOf: InputError,
    message: /this validation is complete; nothing to resume/,
  });
});

test('the validation run: its file names, the record (the committed results/ one validates) and the --json summary', (t) => {
  const results = new ValidationRunDir(path.join(PROJECT_ROOT, 'results'), 'default');
  t.is(results.file('record'), path.join(PROJECT_ROOT, 'results', 'latency-validation-default.json'));
  t.is(results.file('plot'), path.join(PROJECT_ROOT, 'results', 'latency-validation-default.svg'));
  const record = results.readRecord();
  t.is(record.points.length, record.samples);
  const summary = validationSummary(record, 0.95);
  t.deepEqual(Object.keys(summary), ['samples', 'within5', 'within10', 'mape', 'kendallTau', 'table', 'raw', 'atFullSpeed']);
  t.is(summary.atFullSpeed, record.points.filter((p) => p.measuredMs >= 0.95 * p.rawMs).length);
  t.throws(() => new ValidationRunDir(tmp(), 'default').readRecord(), {
    instanceOf: InputError,
    message: /no validation of table default \(no latency-validation-default\.json\)/,
  });
});

test('the correction fit recovers scale and overhead, and falls back to a median overhead', (t) => {
  const models = [10, 20, 40, 80].map((sumMs) => ({ sumMs, measuredMs: 1.1 * sumMs + 0.5 }));
  const fit = fitCorrection(models);
  t.true(Math.abs(fit.scale - 1.1) < 1e-9 && Math.abs(fit.overheadMs - 0.5) < 1e-9, JSON.stringify(fit));
  const wild = fitCorrection([10, 20, 40].map((sumMs) => ({ sumMs, measuredMs: 2 * sumMs })));
  t.is(wild.scale, 1, 'a scale outside [0.8, 1.3] is not believed');
  t.is(wild.overheadMs, 20, 'the median residual instead');
  const scaled = atReferenceSpeed({ mean: 2, median: 2, p25: 1.8, std: 0.2, runs: 20 }, 0.5);
  t.deepEqual(scaled, { mean: 1, median: 1, p25: 0.9, std: 0.1, runs: 20 });
});

test('the validation summary', (t) => {
  const report = summarisePoints(
    [
      { name: 'a', predictedMs: 10.4, measuredMs: 10, rawMs: 10 },
      { name: 'b', predictedMs: 18, measuredMs: 20, rawMs: 20 },
      { name: 'c', predictedMs: 30, measuredMs: 20, rawMs: 30 },
    ],
    'x',
  );
  t.is(report.within5, 1 / 3);
  t.is(report.within10, 2 / 3);
  t.true(Math.abs(report.mape - (0.04 + 0.1 + 0.5) / 3) < 1e-12);
  t.is(report.raw.within10, 1, 'the raw timings are scored separately (c: exact as timed)');
  t.is(report.raw.within5, 2 / 3);
});

test('a validation does not replace a record already in its directory unless forced (the default --out, results/, holds the committed one)', async (t) => {
  const dir = tmp();
  const committed = path.join(PROJECT_ROOT, 'results', 'latency-validation-default.json');
  const record = readFileSync(committed, 'utf8');
  writeFileSync(path.join(dir, 'latency-validation-default.json'), record);
  const table = loadTable('default');
  await t.throwsAsync(runLatencyValidation({ table, space: 'mobilenetv3', samples: 1, seed: 0, dir }), {
    instanceOf: InputError,
    message:
      /latency-validation-default\.json: a validation of 100 models \(space mobilenetv3, seed 0\) of table default is already there; give --force to replace it, or --out another directory$/,
  });
  const cli = await nas('latency', 'validate', '--samples', '1', '--out', dir);
  t.is(cli.code, 2, cli.stderr);
  t.regex(cli.stderr, /^nas: .*latency-validation-default\.json: .* is already there; give --force to replace it/m);
  t.is(cli.stderr.split('\n').filter((l) => l.startsWith('nas:')).length, 1);
  t.is(readFileSync(path.join(dir, 'latency-validation-default.json'), 'utf8'), record, 'the record is untouched');
  t.is(readFileSync(committed, 'utf8'), record);
});

test.serial('a forced validation replaces the record in its directory', async (t) => {
  const { table, space } = await tinyValidationSetup();
  const dir = tmp();
  const gate = { minSpeed: 0.95, maxWaitSeconds: 0 };
  await runLatencyValidation({ table, space, samples: 1, seed: 0, dir, gate });
  await t.throwsAsync(runLatencyValidation({ table, space, samples: 2, seed: 0, dir, gate }), {
    instanceOf: InputError,
    message: /a validation of 1 model \(space latency-test-tiny, seed 0\) .* is already there; give --force/,
  });
  await runLatencyValidation({ table, space, samples: 2, seed: 0, dir, gate, force: true });
  t.like(new ValidationRunDir(dir, table.name).readRecord(), { samples: 2, complete: true });
});
