/**
 * Does the way `nas profile` times ops make a self-consistent table? A seeded sample of a table's
 * keys is timed three times on this machine: twice as `nas profile` times them (one timing per
 * op, the speed probe read at most once a second; the second pass in reverse order) and once with
 * a probe reading before every op. For each, the estimator's leave-one-out among the sampled keys
 * (how self-consistent a table of those timings is), beside the table's own values for the same
 * keys. Run it on an otherwise idle machine.
 *
 *   node dist/bench/profile-protocol.js [--table default] [--sample 800] [--seed 1]
 */
import { derive, shuffle } from '../src/common/rng.js';
import { SpeedProbe, warmUp } from '../src/latency-model/measure/profile.js';
import { tablePoints } from '../src/latency-model/predict/estimator.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import type { LatencyTable } from '../src/latency-model/predict/table-schema.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { benchArguments, numberArgument } from './report.js';
import { agreement, looOf, retimable, tableWithTimes, timeKeys } from './retime.js';

const args = benchArguments({ table: 'default', sample: '800', seed: '1' });
const TABLE = args.table;
const SAMPLE = numberArgument(args, 'sample');
const SEED = numberArgument(args, 'seed');

/** The estimator's leave-one-out on a table of the keys priced `ms(key)`, as text. */
function looText(table: LatencyTable, keys: readonly string[], ms: (key: string) => number): string {
  const { within10, medianAbsError } = looOf(tableWithTimes(table, keys, ms));
  return `${(100 * within10!).toFixed(1)}% within +-10% (median ${(100 * medianAbsError!).toFixed(2)}%)`;
}

/** How often two timings of the keys agree within +-10%, as text. */
function agreementText(keys: readonly string[], a: (key: string) => number, b: (key: string) => number): string {
  return `${(100 * agreement(keys.map(a), keys.map(b)).within10).toFixed(1)}% within +-10%`;
}

async function main(): Promise<void> {
  const table = retimable(loadTable(TABLE), TABLE);
  await prepareBackend('wasm');
  const timed = tablePoints(table)
    .filter((p) => p.ms > 0)
    .map((p) => p.key);
  const keys = (shuffle(timed, derive(SEED, 'protocol')) as string[]).slice(0, SAMPLE);
  warmUp();
  const probe = new SpeedProbe(table.profiler!);
  const started = performance.now();
  const asProfiled = timeKeys(table, keys, probe, { probeEveryOp: false });
  const asProfiledReversed = timeKeys(table, [...keys].reverse(), probe, { probeEveryOp: false });
  const probeEveryOp = timeKeys(table, keys, probe, { probeEveryOp: true });
  probe.dispose();
  const tableMs = (k: string) => table.entries[k]!.p25 ?? table.entries[k]!.median;
  const a = (k: string) => asProfiled.get(k)!;
  const b = (k: string) => asProfiledReversed.get(k)!;
  const c = (k: string) => probeEveryOp.get(k)!;
  const lines = [
    `${keys.length} keys of table ${table.name} (seed ${SEED}), timed in ${((performance.now() - started) / 1000).toFixed(0)} s. The estimator's leave-one-out among them:`,
    `- the table's own values: ${looText(table, keys, tableMs)}`,
    `- as nas profile times (probe at most once a second), pass 1: ${looText(table, keys, a)}`,
    `- the same, pass 2 (reverse order): ${looText(table, keys, b)}`,
    `- the two passes' geometric mean: ${looText(table, keys, (k) => Math.sqrt(a(k) * b(k)))}`,
    `- a probe reading before every op: ${looText(table, keys, c)}`,
    `Agreement: pass 1 vs pass 2 ${agreementText(keys, a, b)}; pass 1 vs probe-every-op ${agreementText(keys, a, c)}; the table vs probe-every-op ${agreementText(keys, tableMs, c)}.`,
  ];
  console.log(lines.join('\n'));
}

await main();
