import { cpus } from 'node:os';
import test from 'ava';
import { InputError } from '../src/common/errors.js';
import { DEFAULT_PROFILER } from '../src/latency-model/measure/profile.js';
import { opKey, unitOp } from '../src/latency-model/predict/ops.js';
import { LatencyOracle } from '../src/latency-model/predict/oracle.js';
import type { LatencyTable } from '../src/latency-model/predict/table-schema.js';
import type { ArchSpec } from '../src/search-space/archspec.js';
import { unitCost } from '../src/search-space/cost.js';
import { resolve } from '../src/search-space/resolve.js';
import { tf } from '../src/trainer/tf.js';
import { latencyTable, maddsLatencies } from './helpers/tables.js';
import { tinySpec } from './helpers/tiny.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

const DEPLOY = { resolution: 32, classes: 1000 };
const deployedSpec = () => tinySpec({ resolution: 32, classes: 1000 });
/** The expected total, from the units of the deployed spec: 0.01 ms + 1 ms per million multiply-adds each. */
const expectedMs = (overheadMs: number) =>
  overheadMs + resolve(deployedSpec()).units.reduce((sum, unit) => sum + 0.01 + unitCost(unit).madds / 1e6, 0);
const close = (a: number, b: number) => Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(b));

test('predicts the deployed spec (deployment resolution and classes), not the proxy one', (t) => {
  const table = latencyTable(maddsLatencies(resolve(deployedSpec()).units), { resolutions: [32], overheadMs: 0.5 });
  const oracle = new LatencyOracle(table, DEPLOY);
  t.false(oracle.measures, 'a synthetic table is not from this machine');
  const proxy = tinySpec({ resolution: 28, classes: 10 });
  const deployed = oracle.deployed(proxy);
  t.is(deployed.input.resolution, 32);
  t.is(deployed.classes, 1000);
  t.is(proxy.input.resolution, 28, 'the argument is not modified');
  const prediction = oracle.predict(proxy);
  t.true(close(prediction.totalMs, expectedMs(0.5)), `${prediction.totalMs} vs ${expectedMs(0.5)}`);
  t.true(close(oracle.latencyOf(proxy), expectedMs(0.5)));
  t.deepEqual(prediction.estimated, []);
  t.is(oracle.estimated, 0);
  t.deepEqual(oracle.measured(), {});
});

test('missing: interpolate prices an op the table lacks between measured neighbours, and counts it', (t) => {
  const spec = deployedSpec();
  const units = resolve(spec).units;
  const latencies = maddsLatencies(units);
  const missing = opKey(unitOp(units.find((u) => u.id.startsWith('b2'))!));
  delete latencies[missing];
  // The same op with fewer and more expansion channels (its family), latency linear in multiply-adds,
  // so the interpolated value is exactly the one the missing entry would have had.
  const withExp = (exp: number): ArchSpec => ({
    ...spec,
    blocks: spec.blocks.map((b, i) => (i === 1 ? { ...b, exp } : b)) as ArchSpec['blocks'],
  });
  const table = latencyTable(
    { ...maddsLatencies(resolve(withExp(40)).units), ...maddsLatencies(resolve(withExp(56)).units), ...latencies },
    { resolutions: [32] },
  );
  t.false(missing in table.entries);
  const oracle = new LatencyOracle(table, { ...DEPLOY, missing: 'interpolate' });
  const first = oracle.predict(spec);
  t.deepEqual(first.estimated, [missing]);
  t.is(first.ops.find((o) => o.key === missing)!.source, 'interpolated');
  t.true(close(first.totalMs, expectedMs(0)), `${first.totalMs} vs ${expectedMs(0)}`);
  oracle.predict(spec);
  t.is(oracle.estimated, 2, 'estimates add up over calls');
  t.deepEqual(oracle.measured(), {}, 'nothing measured');
  t.false(missing in oracle.table.entries, 'an estimate is not stored as an entry');
});

test('extra entries join the table and count as measured; the caller table is not modified', (t) => {
  const units = resolve(deployedSpec()).units;
  const latencies = maddsLatencies(units);
  const key = opKey(unitOp(units[0]!));
  delete latencies[key];
  const table = latencyTable(latencies, { resolutions: [32] });
  const extra = { [key]: { mean: 7, median: 7, std: 0, runs: 1 } };
  const oracle = new LatencyOracle(table, DEPLOY, extra);
  t.false(key in table.entries);
  const prediction = oracle.predict(deployedSpec());
  t.deepEqual(prediction.estimated, []);
  t.is(prediction.ops.find((o) => o.key === key)!.ms, 7);
  const measured = oracle.measured();
  t.deepEqual(measured, extra);
  delete measured[key];
  t.deepEqual(oracle.measured(), extra, 'measured() returns a copy');
});

const hereDevice = () => ({
  name: 'here',
  runtime: 'node',
  backend: tf.getBackend(),
  threads: 1,
  cpu: cpus()[0]?.model ?? 'unknown',
  tfjsVersion: null,
  date: 'now',
});

test('a table from this machine and backend measures a missing op once, keeps it and reports it', (t) => {
  const units = resolve(deployedSpec()).units;
  const latencies = maddsLatencies(units);
  const missingUnit = units.find((u) => u.id.startsWith('b1'))!;
  const key = opKey(unitOp(missingUnit));
  delete latencies[key];
  const table: LatencyTable = {
    ...latencyTable(latencies, { resolutions: [32], device: hereDevice() }),
    profiler: { ...DEFAULT_PROFILER, minRuns: 3, minMillis: 0, warmupRuns: 1 },
  };
  const oracle = new LatencyOracle(table, DEPLOY);
  t.true(oracle.measures);
  const first = oracle.predict(deployedSpec());
  t.deepEqual(first.estimated, [], 'measured, not estimated');
  const measured = oracle.measured();
  t.deepEqual(Object.keys(measured), [key]);
  const entry = measured[key]!;
  t.true(entry.median > 0 && Number.isFinite(entry.median));
  t.is(oracle.table.entries[key], entry);
  t.false(key in table.entries, 'the caller table is not modified');
  const second = oracle.predict(deployedSpec());
  t.is(oracle.measured()[key], entry, 'not measured again');
  t.is(second.totalMs, first.totalMs);
});

test('missing: estimate never measures, even on this machine; measure is refused for a table from elsewhere', (t) => {
  const units = resolve(deployedSpec()).units;
  const table = latencyTable(maddsLatencies(units), { resolutions: [32], device: hereDevice() });
  t.true(new LatencyOracle(table, DEPLOY).measures);
  const oracle = new LatencyOracle(table, { ...DEPLOY, missing: 'estimate' });
  t.false(oracle.measures);
  t.is(oracle.missing, 'estimate');
  t.true(close(oracle.latencyOf(deployedSpec()), expectedMs(0)));
  const foreign = latencyTable(maddsLatencies(units), { resolutions: [32] });
  t.throws(() => new LatencyOracle(foreign, { ...DEPLOY, missing: 'measure' }), {
    instanceOf: InputError,
    message: /profiled on synthetic .*not here.*--latency-missing estimate/,
  });
});

test('by default a table from elsewhere (a phone) prices the ops it lacks with its estimator, flagged', (t) => {
  const spec = deployedSpec();
  const units = resolve(spec).units;
  const latencies = maddsLatencies(units);
  const missing = opKey(unitOp(units.find((u) => u.id.startsWith('b2'))!));
  delete latencies[missing];
  const table = latencyTable(latencies, { resolutions: [32] });
  const oracle = new LatencyOracle(table, DEPLOY);
  t.is(oracle.missing, 'estimate');
  const prediction = oracle.predict(spec);
  t.deepEqual(prediction.estimated, [missing]);
  const op = prediction.ops.find((o) => o.key === missing)!;
  t.is(op.source, 'estimated');
  t.true(op.ms > 0);
  t.is(oracle.estimated, 1);
});
