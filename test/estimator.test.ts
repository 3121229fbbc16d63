/**
 * The latency estimator (src/latency-model/predict/estimator.ts): non-negative least squares, the
 * recovery of a known law, leave-one-out, the fitted model stored in a table, refusals, and what
 * it lets run: `nas latency --estimate`, a search with `latency.missing: "estimate"`.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError } from '../src/common/errors.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { runSearch } from '../src/controller/search.js';
import { setupSearch } from '../src/controller/setup.js';
import {
  byOpType,
  caveatText,
  estimatorFor,
  fitCoefficients,
  LatencyEstimator,
  leaveOneOut,
  looStats,
  NoEntriesToEstimateFromError,
  tablePoints,
} from '../src/latency-model/predict/estimator.js';
import { ESTIMATOR_FEATURES } from '../src/latency-model/predict/features.js';
import { fitOutPath, fitTableToFile } from '../src/latency-model/predict/fit-table.js';
import { importTable } from '../src/latency-model/predict/import.js';
import { accumulate, emptyNormalEquations, nnls } from '../src/latency-model/predict/nnls.js';
import { opKey, parseOpKey, specOps, unitOp } from '../src/latency-model/predict/ops.js';
import { predictLatency } from '../src/latency-model/predict/predict.js';
import { type LatencyTable, readLatencyTable } from '../src/latency-model/predict/table-schema.js';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { ChoiceSpace } from '../src/search-space/choice-space.js';
import { resolve } from '../src/search-space/resolve.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { nas } from './helpers/cli.js';
import { SurrogateEvaluator, syntheticTable, tinyExperiment, tinySpaceDefinition } from './helpers/search.js';
import { latencyTable, maddsLatencies } from './helpers/tables.js';
import { tinySpec } from './helpers/tiny.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-estimator-'));
const relative = (a: number, b: number) => Math.abs(a / b - 1);
const space = () => new ChoiceSpace(tinySpaceDefinition());

/**
 * The tiny space's synthetic table (0.01 ms + 1 ms per million multiply-adds), with the ops of
 * `extra` specs, without the ops `drop` picks.
 */
function tableWithout(drop: (key: string) => boolean, extra: ArchSpec[] = []): { table: LatencyTable; dropped: Record<string, number> } {
  const all = syntheticTable(space());
  const latencies = {
    ...Object.fromEntries(Object.entries(all.entries).map(([k, e]) => [k, e.median])),
    ...Object.assign({}, ...extra.map((spec) => maddsLatencies(resolve(spec).units))),
  } as Record<string, number>;
  const dropped = Object.fromEntries(Object.entries(latencies).filter(([k]) => drop(k)));
  const kept = Object.fromEntries(Object.entries(latencies).filter(([k]) => !drop(k)));
  return { table: latencyTable(kept, { name: 'partial', resolutions: [16], overheadMs: 0.1 }), dropped };
}

test.before(async () => {
  await prepareBackend('auto');
});

test('nnls: the non-negative least-squares solution, with a coefficient the data wants negative held at 0', (t) => {
  // y = 2 a + 3 b exactly: recovered.
  const exact = emptyNormalEquations(2);
  for (const [a, b] of [
    [1, 0],
    [0, 1],
    [1, 1],
    [2, 1],
  ])
    accumulate(exact, [a!, b!], 2 * a! + 3 * b!);
  const x = nnls(exact);
  t.true(Math.abs(x[0]! - 2) < 1e-9 && Math.abs(x[1]! - 3) < 1e-9, `${x}`);
  // y = a - b: the unconstrained fit makes b negative; NNLS holds it at 0 and fits a alone.
  const negative = emptyNormalEquations(2);
  for (const [a, b] of [
    [1, 0],
    [1, 1],
    [2, 1],
  ])
    accumulate(negative, [a!, b!], a! - b!);
  const y = nnls(negative);
  t.is(y[1], 0);
  t.true(y[0]! > 0);
});

/** A third of the blocks' keys (the space has one stem, head and classifier key), fixed by their text. */
const aThird = (key: string) => /^(bneck|dsconv)-/.test(key) && [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1009, 7) % 3 === 0;

test('the estimator recovers a known law: ops it never saw (a third of the space) within 0.1%', (t) => {
  const { table, dropped } = tableWithout(aThird);
  t.true(Object.keys(dropped).length > 50);
  const estimator = estimatorFor(table);
  for (const [key, ms] of Object.entries(dropped)) {
    const estimate = estimator.estimate(parseOpKey(key)!);
    t.true(relative(estimate, ms) < 1e-3, `${key}: ${estimate} vs ${ms}`);
  }
  // The law is 0.01 ms per op plus 1e-6 ms per multiply-add of any kind: the bneck model finds it.
  const bneck = fitCoefficients(byOpType(tablePoints(table)).get('bneck')!);
  const at = (name: (typeof ESTIMATOR_FEATURES)[number]) => bneck[ESTIMATOR_FEATURES.indexOf(name)]!;
  t.true(relative(at('const'), 0.01) < 1e-2, `const ${at('const')}`);
  for (const madds of ['pointwiseMadds', 'depthwiseMadds'] as const) t.true(relative(at(madds), 1e-6) < 1e-2, `${madds} ${at(madds)}`);
  // An op of another spec entirely (28x28 input): still the law.
  const other = tinySpec({ resolution: 28, channels: 1 });
  const units = resolve(other).units;
  const expected = maddsLatencies(units);
  for (const unit of units.filter((u) => u.kind === 'bneck')) {
    const key = opKey(unitOp(unit));
    t.true(relative(estimator.estimate(unitOp(unit)), expected[key]!) < 1e-3, key);
  }
});

test('leave-one-out on a small table: errors per entry, the only entry of its op type from the other types', (t) => {
  const { table } = tableWithout((key) => !key.startsWith('bneck-in:8x8x16') && !key.startsWith('pool'));
  const points = tablePoints(table);
  const pool = points.filter((p) => p.op === 'pool');
  t.is(pool.length, 1, 'one pooling entry');
  const predicted = leaveOneOut(points);
  t.true(predicted[points.indexOf(pool[0]!)]! > 0, 'predicted from the other op types');
  const stats = looStats(points, predicted);
  t.is(stats.unpredictable, 0);
  t.is(stats.entries, points.length);
  const others = points.filter((p) => p.op !== 'pool');
  const othersStats = looStats(
    others,
    others.map((p) => predicted[points.indexOf(p)]!),
  );
  t.is(othersStats.within10, 1, 'the law holds for every entry of a type with others');
  t.true(othersStats.maxAbsError! < 1e-3);
  t.deepEqual(leaveOneOut([pool[0]!]), [null], "a table's only timed entry cannot be predicted");
  // Far from the law: an entry 50% off is the one leave-one-out finds.
  const noisy = { ...table, entries: { ...table.entries } };
  const victim = points.find((p) => p.op === 'bneck')!.key;
  noisy.entries[victim] = { ...noisy.entries[victim]!, median: 1.5 * noisy.entries[victim]!.median };
  const noisyPoints = tablePoints(noisy);
  const errors = leaveOneOut(noisyPoints).map((p, i) => (p === null ? 0 : relative(p, noisyPoints[i]!.ms)));
  t.is(noisyPoints[errors.indexOf(Math.max(...errors))]!.key, victim);
});

test('nas table fit stores the estimator and its leave-one-out errors; a table whose entries changed is fitted again', async (t) => {
  const dir = tmp();
  const { table, dropped } = tableWithout(aThird);
  const file = path.join(dir, 'partial.json');
  writeFileSync(file, JSON.stringify(table));
  const res = await nas('table', 'fit', file, '--json');
  t.is(res.code, 0, res.stderr);
  const line = JSON.parse(res.stdout.trim().split('\n').pop()!);
  t.true(line.loo.within10 > 0.95, `${line.loo.within10}`);
  t.deepEqual(Object.keys(line.byOpType).sort(), ['bneck', 'conv', 'dense', 'dsconv', 'pool']);
  const stored = readLatencyTable(file);
  t.is(stored.estimator!.fittedOn.entries, Object.keys(table.entries).length);
  t.is(stored.estimator!.models.bneck!.coefficients.length, ESTIMATOR_FEATURES.length);
  t.deepEqual(stored.entries, table.entries, 'the entries are untouched');
  // The stored coefficients are used (doubled here, to tell them from a fit)...
  const [key, ms] = Object.entries(dropped).find(([k]) => k.startsWith('bneck'))!;
  t.true(relative(estimatorFor(stored).estimate(parseOpKey(key)!), ms) < 1e-3);
  const doubled = structuredClone(stored);
  const twice = doubled.estimator!.models.bneck!.coefficients.map((c) => 2 * c);
  doubled.estimator!.models.bneck!.coefficients = twice;
  t.deepEqual(estimatorFor(doubled).models.get('bneck')!.coefficients, twice);
  // ... until the entries change: then the estimator is fitted on them again.
  const changed = { ...doubled, entries: { ...doubled.entries, [key]: { mean: ms, median: ms, std: 0, runs: 1 } } };
  t.notDeepEqual(estimatorFor(changed).models.get('bneck')!.coefficients, twice);
  t.true(relative(estimatorFor(changed).estimate(parseOpKey(key)!), ms) < 1e-3);
  // An old table (no estimator) still reads; a malformed estimator names its JSON path.
  t.is(readLatencyTable(path.resolve('tables/default.json')).estimator, undefined);
  const bad = structuredClone(stored) as unknown as { estimator: { models: { bneck: { coefficients: number[] } } } };
  bad.estimator.models.bneck.coefficients.pop();
  writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(bad));
  t.throws(() => readLatencyTable(path.join(dir, 'bad.json')), {
    instanceOf: InputError,
    message: /bad\.json: \$\.estimator\.models\.bneck\.coefficients: 15 coefficients for 16 features/,
  });
  // By default over the file itself; a table named from tables/ is written here, never into the package.
  t.is(fitOutPath({ table: file }), file);
  t.is(fitOutPath({ table: 'default' }), path.resolve('default.json'));
  t.is(fitOutPath({ table: 'default', out: 'x/y.json' }), path.resolve('x/y.json'));
  const written = await fitTableToFile({ table: file, command: 'test', out: path.join(dir, 'copy.json') });
  t.is(written.out, path.join(dir, 'copy.json'));
  t.deepEqual(JSON.parse(readFileSync(written.out, 'utf8')).estimator.models, stored.estimator!.models);
});

test('an op type the table has no entries of is estimated from the other types and flagged; a table with no timed entry is refused', async (t) => {
  const spec = tinySpec({ resolution: 16, channels: 1 });
  const ops = specOps(spec);
  const latencies = maddsLatencies(resolve(spec).units);
  const pool = ops.find((o) => o.op.op === 'pool')!;
  const table = latencyTable(Object.fromEntries(ops.filter((o) => o !== pool).map((o) => [o.key, latencies[o.key]!])), {
    resolutions: [16],
  });
  const prediction = predictLatency(spec, table, { estimate: true });
  const pooled = prediction.ops.find((o) => o.key === pool.key)!;
  t.is(pooled.source, 'estimated');
  t.true(pooled.ms > 0, 'never priced at 0');
  t.deepEqual(pooled.caveats, ["no pool entries: estimated from the table's other op types"]);
  const empty = t.throws(() => LatencyEstimator.fit('empty', []).estimate(ops[0]!.op), { instanceOf: NoEntriesToEstimateFromError });
  t.regex(empty!.message, /^table empty has no timed entries, so it cannot estimate conv-in:[^ ]+: profile ops into it/);
  const dir = tmp();
  const file = path.join(dir, 'nopool.json');
  writeFileSync(file, JSON.stringify(table));
  const specFile = path.join(dir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const res = await nas('latency', '--arch', specFile, '--table', file, '--estimate', '--breakdown');
  t.is(res.code, 0, res.stderr);
  t.regex(
    res.stdout.split('\n').find((r) => r.endsWith(pool.key))!,
    /estimated; no pool entries: estimated from the table's other op types/,
  );
  t.regex(res.stderr, /no pool entries: estimated from the table's other op types/);
});

test('an op type with one entry is priced by the model of every type, a k x k convolution as a 1x1 one over its patches', (t) => {
  const isConv = (key: string) => key.startsWith('conv-');
  const { table } = tableWithout((key) => isConv(key) && key !== 'conv-in:4x4x16-out:32-k:1-s:1-act:hswish');
  const all = syntheticTable(space()).entries;
  const stem = Object.keys(all).find((key) => isConv(key) && key.includes('-k:3-'))!;
  const estimator = LatencyEstimator.fit(table.name, tablePoints(table));
  t.false(estimator.covers('conv'), 'one conv entry is too few for a model of its own');
  const { ms, caveat } = estimator.estimateWithCaveat(parseOpKey(stem)!);
  // The law is 0.01 ms + 1 ms per million multiply-adds of any kind: the blocks' 1x1 work prices the stem's 3x3 one.
  t.true(relative(ms, all[stem]!.median) < 0.01, `${stem}: ${ms} vs ${all[stem]!.median}`);
  t.is(caveatText(caveat!), 'only 1 conv entry: estimated from a model of every op type');
});

test('nas latency --estimate prices the ops a table lacks and --breakdown flags each one; --interpolate is the alternative', async (t) => {
  const spec = tinySpec({ resolution: 16, channels: 1 });
  const ops = specOps(spec);
  const latencies = maddsLatencies(resolve(spec).units);
  const { table } = tableWithout((key) => key === ops[2]!.key || key === ops[3]!.key, [spec]);
  const dir = tmp();
  const file = path.join(dir, 'partial.json');
  writeFileSync(file, JSON.stringify(table));
  const specFile = path.join(dir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const missing = [ops[2]!.key, ops[3]!.key].filter((k) => !table.entries[k]);
  t.true(missing.length >= 1);
  const strict = await nas('latency', '--arch', specFile, '--table', file);
  t.is(strict.code, 2);
  t.regex(strict.stderr, /no entry for .*--estimate/);
  const res = await nas('latency', '--arch', specFile, '--table', file, '--estimate', '--breakdown');
  t.is(res.code, 0, res.stderr);
  const rows = res.stdout.split('\n');
  for (const key of missing) t.regex(rows.find((r) => r.endsWith(key))!, /\sestimated\s/);
  t.is(rows.filter((r) => /\sestimated\s/.test(r)).length, missing.length, 'only the missing ops are flagged');
  t.regex(res.stdout, new RegExp(`\\(${missing.length} ops? estimated: not in the table\\)`));
  const json = await nas('latency', '--arch', specFile, '--table', file, '--estimate', '--breakdown', '--json');
  const prediction = JSON.parse(json.stdout.trim().split('\n').pop()!);
  t.deepEqual(prediction.estimated, missing);
  const expected = Object.values(latencies).reduce((s, ms) => s + ms, 0) + 0.1;
  t.true(relative(prediction.latencyMs, expected) < 1e-3, `${prediction.latencyMs} vs ${expected}`);
  const both = await nas('latency', '--arch', specFile, '--table', file, '--estimate', '--interpolate');
  t.is(both.code, 2);
  t.regex(both.stderr, /alternatives: choose one/);
});

test.serial('latency.missing: "estimate" lets a search over a table missing some of the space\'s ops run', async (t) => {
  const dir = tmp();
  const spaceFile = path.join(dir, 'tiny-space.json');
  writeFileSync(spaceFile, JSON.stringify(tinySpaceDefinition()));
  const { table, dropped } = tableWithout((key) => key.includes('-k:5-') && key.startsWith('bneck'));
  const tableFile = path.join(dir, 'partial.json');
  writeFileSync(tableFile, JSON.stringify(table));
  const strict = tinyExperiment(spaceFile, tableFile, { budget: 8 });
  t.throws(() => setupSearch(strict, 10), {
    instanceOf: InputError,
    message: /lacks \d+ ops of space tiny.*latency\.missing to "estimate"/,
  });
  const experiment = tinyExperiment(spaceFile, tableFile, { budget: 8, latency: { ...strict.latency, missing: 'estimate' } });
  const setup = setupSearch(experiment, 10);
  t.deepEqual(setup.estimated.estimated.sort(), Object.keys(dropped).sort());
  t.deepEqual(setup.estimated.caveats, []);
  for (const [key, ms] of Object.entries(dropped)) t.true(relative(setup.table.entries[key]!.median, ms) < 1e-3, key);
  const summary = await runSearch(
    { experiment, runDir: path.join(dir, 'run'), evaluator: new SurrogateEvaluator(), command: 'test' },
    setup,
  );
  t.is(summary.trials, 8);
});

test('the embedded table is self-consistent: leave-one-out puts >= 95% of its entries within 10% (a profile hit by an unseen slowdown does not)', (t) => {
  const points = tablePoints(readLatencyTable(path.join(PROJECT_ROOT, 'tables', 'default.json')));
  const stats = looStats(points, leaveOneOut(points));
  t.true(stats.within10! >= 0.95, `${stats.within10}`);
});

const SHARED_TABLES = path.resolve(PROJECT_ROOT, '..', 'shared', 'reference', 'latency-tables');
const sharedTest = existsSync(SHARED_TABLES) ? test : test.skip;

sharedTest('on the published phone tables, leave-one-out puts >= 95% of the entries within 10% (results/latency.md)', (t) => {
  for (const [file, format] of [
    ['ofa-note10-224.yaml', 'ofa'],
    ['proxylessnas-mobile.yaml', 'proxyless'],
  ] as const) {
    const points = tablePoints(importTable(path.join(SHARED_TABLES, file), format, 'test'));
    const stats = looStats(points, leaveOneOut(points));
    t.true(stats.within10! >= 0.95, `${file}: ${stats.within10}`);
  }
});
