/**
 * How well does the embedded table agree with itself? (issue 18: the estimator's leave-one-out on
 * it stops near 80% within +-10%, and the question is how much of the rest is the table's noise.)
 *
 * A seeded sample of the table's entries is timed again, twice (pass B in the reverse order of
 * pass A, so the two are minutes apart), with the table's own profiler settings, dispatch cost and
 * speed probe (each timing scaled to the table's reference speed, as `nas profile` does). Reported:
 * how often pass A is within +-10% of pass B and of the table, and, against the mean of the two
 * passes (a less noisy reading of each op), how often the table entry is within +-10% and how often
 * the estimator's leave-one-out prediction is; then the estimator's leave-one-out on the sampled
 * keys twice, once with the table's values and once with the re-timed ones (`--sample all`: on the
 * whole table re-timed, which `--table-out FILE` writes as a table). Run it on an otherwise idle
 * machine: the probe corrects the machine's speed, not another process competing for its caches.
 *
 *   node dist/bench/table-repeatability.js [--table default] [--sample 400|all] [--seed 0] [--table-out FILE]
 */
import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { writeJsonAtomic } from '../src/common/json-io.js';
import { derive, shuffle } from '../src/common/rng.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { SpeedProbe, warmUp } from '../src/latency-model/measure/profile.js';
import { leaveOneOut, tablePoints } from '../src/latency-model/predict/estimator.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { benchArguments, numberArgument, writeBenchRecord } from './report.js';
import { type Agreement, agreement, looOf, retimable, tableWithTimes, timeKeys } from './retime.js';

const args = benchArguments({ table: 'default', sample: '400', 'table-out': '', seed: '0' });
const TABLE = args.table;
const SAMPLE = args.sample === 'all' ? Number.POSITIVE_INFINITY : numberArgument(args, 'sample');
const TABLE_OUT = args['table-out'];
const SEED = numberArgument(args, 'seed');
const OUT = path.join(PROJECT_ROOT, 'results', 'table-repeatability.json');

interface Row {
  key: string;
  tableMs: number;
  passA: number;
  passB: number;
  /** The estimator's leave-one-out prediction (fitted on every other entry of the table). */
  estimatorMs: number;
}

async function main(): Promise<void> {
  const table = retimable(loadTable(TABLE), TABLE);
  await prepareBackend('wasm');
  const points = tablePoints(table).filter((pt) => pt.ms > 0);
  const predicted = leaveOneOut(points);
  const sampled = shuffle(
    points.map((_, i) => i),
    derive(SEED, 'table-repeatability'),
  ).slice(0, SAMPLE) as number[];
  warmUp();
  const probe = new SpeedProbe(table.profiler!);
  const keys = sampled.map((i) => points[i]!.key);
  const passA = timeKeys(table, keys, probe, { probeEveryOp: true, label: 'pass A' });
  const passB = timeKeys(table, [...keys].reverse(), probe, { probeEveryOp: true, label: 'pass B' });
  probe.dispose();
  const rows: Row[] = sampled.map((i) => ({
    key: points[i]!.key,
    tableMs: points[i]!.ms,
    passA: passA.get(points[i]!.key)!,
    passB: passB.get(points[i]!.key)!,
    estimatorMs: predicted[i]!,
  }));
  const retimedMs = (r: Row) => Math.sqrt(r.passA * r.passB);
  const retimed = rows.map(retimedMs);
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const retimedTable = tableWithTimes(table, keys, (k) => retimedMs(byKey.get(k)!));
  if (TABLE_OUT)
    await writeJsonAtomic(TABLE_OUT, { ...retimedTable, source: { command: `re-timed by bench/table-repeatability from ${TABLE}` } });
  const summary = {
    passAvsB: agreement(
      rows.map((r) => r.passA),
      rows.map((r) => r.passB),
    ),
    passAvsTable: agreement(
      rows.map((r) => r.passA),
      rows.map((r) => r.tableMs),
    ),
    tableVsRetimed: agreement(
      rows.map((r) => r.tableMs),
      retimed,
    ),
    estimatorVsRetimed: agreement(
      rows.map((r) => r.estimatorMs),
      retimed,
    ),
    estimatorVsTable: agreement(
      rows.map((r) => r.estimatorMs),
      rows.map((r) => r.tableMs),
    ),
    /** Leave-one-out among the sampled keys only, with the table's values and with the re-timed ones. */
    looSampleTableValues: looOf(tableWithTimes(table, keys, (k) => byKey.get(k)!.tableMs)),
    looSampleRetimed: looOf(retimedTable),
  };
  await writeBenchRecord(OUT, 'table-repeatability', {
    command: `node dist/bench/table-repeatability.js --table ${TABLE} --sample ${args.sample} --seed ${SEED}`,
    table: table.name,
    seed: SEED,
    summary,
    sampled: rows.length,
    /** The rows where the table and the re-timing differ most. */
    worst: [...rows]
      .sort((a, b) => Math.abs(Math.log(b.tableMs / retimedMs(b))) - Math.abs(Math.log(a.tableMs / retimedMs(a))))
      .slice(0, 20),
  });
  const pct = (a: Agreement) => [
    `${(100 * a.within10).toFixed(1)}%`,
    `${(100 * a.medianAbsError).toFixed(1)}%`,
    `${(100 * a.p90AbsError).toFixed(1)}%`,
  ];
  console.log(
    markdownTable(
      ['compared', 'within +-10%', 'median |error|', 'p90'],
      [
        ['pass A vs pass B (the same op timed twice, minutes apart)', ...pct(summary.passAvsB)],
        ['pass A vs the table (timed again, days apart)', ...pct(summary.passAvsTable)],
        ["the table vs the two passes' mean", ...pct(summary.tableVsRetimed)],
        ["the estimator (leave-one-out) vs the two passes' mean", ...pct(summary.estimatorVsRetimed)],
        ['the estimator (leave-one-out) vs the table', ...pct(summary.estimatorVsTable)],
      ],
    ),
  );
  const loo = (l: { within10: number | null; medianAbsError: number | null }) =>
    `${(100 * (l.within10 ?? Number.NaN)).toFixed(1)}% within +-10% (median ${(100 * (l.medianAbsError ?? Number.NaN)).toFixed(1)}%)`;
  console.log(
    `\nThe estimator's leave-one-out among these ${rows.length} keys: with the table's values ${loo(summary.looSampleTableValues)}; with the re-timed values ${loo(summary.looSampleRetimed)}.`,
  );
  console.log(`\n(${rows.length} entries of ${table.name}, seed ${SEED}; ${OUT})`);
}

await main();
