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
import { atReferenceSpeed, profileOp, SpeedProbe, statisticOf, warmUp } from '../src/latency-model/measure/profile.js';
import { leaveOneOut, looStats, tablePoints } from '../src/latency-model/predict/estimator.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { parseOpKey } from '../src/latency-model/predict/ops.js';
import type { Entry, LatencyTable } from '../src/latency-model/predict/table-schema.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { argument } from './report.js';

const TABLE = argument('table', 'default');
const SAMPLE = Number(argument('sample', '800'));
const SEED = Number(argument('seed', '1'));

/** One timing of each key at the table's reference speed; the probe read before every op, or at most once a second. */
function timePass(table: LatencyTable, keys: readonly string[], probe: SpeedProbe, probeEveryOp: boolean): Map<string, number> {
  const referenceMs = table.probe!.ms;
  const dispatchMs = Number(table.device['dispatchMs'] ?? 0);
  const times = new Map<string, number>();
  let speed = referenceMs / probe.measure();
  let lastProbe = performance.now();
  for (const key of keys) {
    if (probeEveryOp || performance.now() - lastProbe > 1000) {
      speed = referenceMs / probe.measure();
      lastProbe = performance.now();
    }
    const entry = profileOp(parseOpKey(key)!, table.profiler!, dispatchMs);
    times.set(key, statisticOf(atReferenceSpeed(entry, speed), table.profiler!));
  }
  return times;
}

/** The estimator's leave-one-out (within +-10%, median error) on a table of the keys priced `ms(key)`. */
function looOf(table: LatencyTable, keys: readonly string[], ms: (key: string) => number): string {
  const entry = (v: number): Entry => ({ mean: v, median: v, p25: v, std: 0, runs: 1 });
  const points = tablePoints({ ...table, estimator: undefined, entries: Object.fromEntries(keys.map((k) => [k, entry(ms(k))])) });
  const stats = looStats(points, leaveOneOut(points));
  return `${(100 * stats.within10!).toFixed(1)}% within +-10% (median ${(100 * stats.medianAbsError!).toFixed(2)}%)`;
}

function agreement(keys: readonly string[], a: (key: string) => number, b: (key: string) => number): string {
  const within = keys.filter((k) => Math.abs(a(k) / b(k) - 1) <= 0.1).length;
  return `${((100 * within) / keys.length).toFixed(1)}% within +-10%`;
}

async function main(): Promise<void> {
  const table = loadTable(TABLE);
  if (!table.probe || !table.profiler) throw new Error(`table ${TABLE} records no speed probe or profiler settings`);
  await prepareBackend('wasm');
  const timed = tablePoints(table)
    .filter((p) => p.ms > 0)
    .map((p) => p.key);
  const keys = (shuffle(timed, derive(SEED, 'protocol')) as string[]).slice(0, SAMPLE);
  warmUp();
  const probe = new SpeedProbe(table.profiler);
  const started = performance.now();
  const asProfiled = timePass(table, keys, probe, false);
  const asProfiledReversed = timePass(table, [...keys].reverse(), probe, false);
  const probeEveryOp = timePass(table, keys, probe, true);
  probe.dispose();
  const tableMs = (k: string) => table.entries[k]!.p25 ?? table.entries[k]!.median;
  const a = (k: string) => asProfiled.get(k)!;
  const b = (k: string) => asProfiledReversed.get(k)!;
  const c = (k: string) => probeEveryOp.get(k)!;
  const lines = [
    `${keys.length} keys of table ${table.name} (seed ${SEED}), timed in ${((performance.now() - started) / 1000).toFixed(0)} s. The estimator's leave-one-out among them:`,
    `- the table's own values: ${looOf(table, keys, tableMs)}`,
    `- as nas profile times (probe at most once a second), pass 1: ${looOf(table, keys, a)}`,
    `- the same, pass 2 (reverse order): ${looOf(table, keys, b)}`,
    `- the two passes' geometric mean: ${looOf(table, keys, (k) => Math.sqrt(a(k) * b(k)))}`,
    `- a probe reading before every op: ${looOf(table, keys, c)}`,
    `Agreement: pass 1 vs pass 2 ${agreement(keys, a, b)}; pass 1 vs probe-every-op ${agreement(keys, a, c)}; the table vs probe-every-op ${agreement(keys, tableMs, c)}.`,
  ];
  console.log(lines.join('\n'));
}

await main();
