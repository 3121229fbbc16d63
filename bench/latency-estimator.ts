/**
 * How the latency estimator (src/latency-model/predict/estimator.ts) generalises beyond a table's
 * keys (issue 18), on the embedded table and the published phone tables (Once-for-All's Note10 at
 * 224, ProxylessNAS' mobile; read from --tables, never copied into the project):
 *
 * 1. Leave-one-out: each entry predicted from a model fitted on the other entries of the table.
 * 2. Interpolation (`--interpolate`) against the estimator on the entries interpolation can price
 *    without them (a measured neighbour of its family on each side, or on one side), both left out.
 * 3. Whole networks of an OFA-like MobileNetV3 space (per layer kernel {3,5,7} and expansion
 *    {3,4,6}, per stage depth {2,3,4}; built here as ArchSpecs in the shape the OFA table's keys
 *    describe) priced from estimated entries, the network's own entries left out of the fit,
 *    against the table's own sum.
 * 4. The embedded table's own noise: pairs of entries that differ only by an identity shortcut.
 *
 * Records results/latency-estimator.json; prints the markdown of results/latency.md's section.
 *
 *   node dist/bench/latency-estimator.js [--tables DIR] [--networks 50] [--seed 0]
 */
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { quantile } from '../src/common/quantile.js';
import { derive, type Rng } from '../src/common/rng.js';
import { PROJECT_ROOT, TOOL_NAME } from '../src/common/version.js';
import {
  byOpType,
  DEFAULT_ESTIMATOR_SETTINGS,
  type FitPoint,
  LatencyEstimator,
  leaveOneOut,
  looStats,
  tablePoints,
} from '../src/latency-model/predict/estimator.js';
import type { LooStats } from '../src/latency-model/predict/estimator-schema.js';
import { importTable } from '../src/latency-model/predict/import.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { parseOpKey, specOps } from '../src/latency-model/predict/ops.js';
import { missingPricer } from '../src/latency-model/predict/predict.js';
import { entryMs, type LatencyTable } from '../src/latency-model/predict/table-schema.js';
import { ARCHSPEC_SCHEMA_VERSION, type ArchSpec, type Block, parseArchSpec } from '../src/search-space/archspec.js';
import { makeDivisible } from '../src/search-space/zoo/index.js';
import { benchArguments, benchCommand, benchMachine, numberArgument, writeBenchRecord } from './report.js';

const args = benchArguments({
  tables: path.resolve(PROJECT_ROOT, '..', 'shared', 'reference', 'latency-tables'),
  networks: '50',
  seed: '0',
  'interpolation-sample': '300',
});
const TABLES_DIR = args.tables;
const NETWORKS = numberArgument(args, 'networks');
const SEED = numberArgument(args, 'seed');
/** Entries of the embedded table the interpolation comparison samples (each rebuilds an interpolator of the whole table). */
const INTERPOLATION_SAMPLE = numberArgument(args, 'interpolation-sample');
const OUT = path.join(PROJECT_ROOT, 'results', 'latency-estimator.json');

const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(digits)}%`);

interface TableReport {
  name: string;
  entries: number;
  loo: LooStats;
  /** Share of all entries within +-10%, the unpredictable ones (a table's only timed entry) counted as misses. */
  within10OfAll: number;
  /** The base model alone (no residual smoothing): what the smoothing adds. */
  baseOnly: LooStats;
  byOpType: Record<string, LooStats>;
  worst: { key: string; ms: number; predicted: number; error: number }[];
  interpolation: InterpolationReport;
}

function looReport(
  name: string,
  table: LatencyTable,
): Omit<TableReport, 'interpolation'> & { points: FitPoint[]; predicted: (number | null)[] } {
  const started = performance.now();
  const points = tablePoints(table);
  const predicted = leaveOneOut(points);
  const loo = looStats(points, predicted);
  const byOp: Record<string, LooStats> = {};
  for (const [op, group] of byOpType(points))
    byOp[op] = looStats(
      group,
      group.map((pt) => predicted[points.indexOf(pt)]!),
    );
  const within = points.filter((pt, i) => predicted[i] !== null && pt.ms > 0 && Math.abs(predicted[i]! / pt.ms - 1) <= 0.1).length;
  const timed = points.filter((pt) => pt.ms > 0).length;
  const worst = points
    .map((pt, i) => ({ key: pt.key, ms: pt.ms, predicted: predicted[i] ?? Number.NaN, error: (predicted[i] ?? Number.NaN) / pt.ms - 1 }))
    .filter((w) => Number.isFinite(w.error))
    .sort((a, b) => Math.abs(b.error) - Math.abs(a.error))
    .slice(0, 5);
  console.error(`${name}: leave-one-out over ${points.length} entries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const baseOnly = looStats(points, leaveOneOut(points, { ...DEFAULT_ESTIMATOR_SETTINGS, shrinkage: Number.POSITIVE_INFINITY }));
  return { name, entries: points.length, loo, within10OfAll: within / timed, baseOnly, byOpType: byOp, worst, points, predicted };
}

interface InterpolationReport {
  /** Entries checked (all, or a seeded sample of the embedded table). */
  checked: number;
  interpolated: { entries: number; interpolation: LooStats; estimator: LooStats };
  extrapolated: { entries: number; interpolation: LooStats; estimator: LooStats };
}

/** Interpolation vs the estimator, each entry left out of both. */
function interpolationReport(table: LatencyTable, points: FitPoint[], predicted: (number | null)[], rng: Rng): InterpolationReport {
  const order = points.map((_, i) => i).filter((i) => points[i]!.ms > 0);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const sample = order.slice(0, Math.min(order.length, INTERPOLATION_SAMPLE));
  const cases = { interpolated: [] as number[][], extrapolated: [] as number[][] };
  for (const i of sample) {
    const pt = points[i]!;
    if (predicted[i] === null) continue;
    const { [pt.key]: _left, ...others } = table.entries;
    const priced = missingPricer({ ...table, entries: others }, { interpolate: true })(parseOpKey(pt.key)!);
    if (priced?.source === 'interpolated' || priced?.source === 'extrapolated') cases[priced.source].push([i, priced.ms]);
  }
  const compare = (list: number[][]) => {
    const pts = list.map(([i]) => points[i!]!);
    return {
      entries: list.length,
      interpolation: looStats(
        pts,
        list.map(([, ms]) => ms!),
      ),
      estimator: looStats(
        pts,
        list.map(([i]) => predicted[i!]!),
      ),
    };
  };
  return { checked: sample.length, interpolated: compare(cases.interpolated), extrapolated: compare(cases.extrapolated) };
}

interface PairSpread {
  pairs: number;
  medianLogRatio: number;
  sdLogRatio: number;
}

function spread(ratios: number[]): PairSpread {
  ratios.sort((a, b) => a - b);
  const mean = ratios.reduce((s, r) => s + r, 0) / ratios.length;
  const sd = Math.sqrt(ratios.reduce((s, r) => s + (r - mean) ** 2, 0) / (ratios.length - 1));
  return { pairs: ratios.length, medianLogRatio: quantile(ratios, 0.5), sdLogRatio: sd };
}

/** Log-ratios of entries that differ only by an identity shortcut (`X-res` / `X`): a shortcut costs little, so their spread is the table's noise. */
function shortcutPairs(table: LatencyTable): (PairSpread & { byOpType: Record<string, PairSpread> }) | null {
  const ratios = new Map<string, number[]>();
  for (const key of Object.keys(table.entries)) {
    const res = table.entries[`${key}-res`];
    if (!res || key.endsWith('-res')) continue;
    const op = key.split('-')[0]!;
    if (!ratios.has(op)) ratios.set(op, []);
    ratios.get(op)!.push(Math.log(entryMs(table, res) / entryMs(table, table.entries[key]!)));
  }
  const all = [...ratios.values()].flat();
  if (all.length < 2) return null;
  const byOpType = Object.fromEntries([...ratios].filter(([, r]) => r.length > 1).map(([op, r]) => [op, spread(r)]));
  return { ...spread(all), byOpType };
}

/** The stages of Once-for-All's MobileNetV3 space, as its Note10 table's keys describe them. */
const OFA_STAGES = [
  { out: 32, stride: 2, activation: 'relu', se: false },
  { out: 48, stride: 2, activation: 'relu', se: true },
  { out: 96, stride: 2, activation: 'hswish', se: false },
  { out: 136, stride: 1, activation: 'hswish', se: true },
  { out: 192, stride: 2, activation: 'hswish', se: true },
] as const;

const pick = <T>(rng: Rng, options: readonly T[]): T => options[Math.floor(rng() * options.length)]!;

/** A random member of the OFA-like space: per stage a depth of 2-4, per layer a kernel of 3, 5, 7 and an expansion of 3, 4, 6. */
function ofaMember(rng: Rng, index: number): ArchSpec {
  const blocks: Block[] = [{ type: 'dsconv', id: 'b1', kernel: 3, stride: 1, out: 24, activation: 'relu', se: null, residual: true }];
  let channels = 24;
  OFA_STAGES.forEach((stage, s) => {
    const depth = pick(rng, [2, 3, 4]);
    for (let l = 0; l < depth; l++) {
      const exp = channels * pick(rng, [3, 4, 6]);
      const se = stage.se ? { squeeze: makeDivisible(exp / 4), gate: 'hsigmoid' as const, activation: 'relu' as const } : null;
      const kernel = pick(rng, [3, 5, 7] as const);
      const stride = l === 0 ? stage.stride : 1;
      blocks.push({
        type: 'bneck',
        id: `s${s + 1}l${l + 1}`,
        kernel,
        stride,
        out: stage.out,
        activation: stage.activation,
        se,
        residual: l > 0,
        exp,
      });
      channels = stage.out;
    }
  });
  return parseArchSpec(
    {
      schemaVersion: ARCHSPEC_SCHEMA_VERSION,
      kind: 'archspec',
      name: `ofa-mbv3-member-${index}`,
      provenance: {
        command: 'bench/latency-estimator',
        seed: SEED,
        tool: TOOL_NAME,
        source: 'random member of an OFA-like MobileNetV3 space',
      },
      input: { resolution: 224, channels: 3 },
      stem: { id: 'stem', kernel: 3, stride: 2, out: 24, activation: 'hswish' },
      blocks,
      head: {
        conv: { id: 'head_conv', out: 1152, activation: 'hswish' },
        pool: 'avg',
        preLogits: { id: 'head_prelogits', out: 1536, activation: 'hswish' },
      },
      classes: 1000,
      dropout: 0,
    },
    `OFA member ${index}`,
  );
}

interface NetworkRow {
  name: string;
  tableMs: number;
  /** Every entry of the network left out. */
  strictMs: number;
  /** Its ops of the op types left with no entries (priced from the table's other types): key, table and estimated ms. */
  fromOtherTypes: { key: string; tableMs: number; estimatedMs: number }[];
  /** The network's entries of op types the table has other entries of left out (its blocks); the rest from the table. */
  blocksOutMs: number;
  /** The estimated ops alone and the same ops' table sum. */
  estimatedMs: number;
  estimatedTableMs: number;
  estimatedOps: number;
}

function priceNetwork(spec: ArchSpec, table: LatencyTable, points: readonly FitPoint[]): NetworkRow {
  const ops = specOps(spec);
  const keys = new Set(ops.map((o) => o.key));
  const missing = ops.filter((o) => !table.entries[o.key]);
  if (missing.length) throw new Error(`${spec.name}: ${missing[0]!.key} is not in the table (the member builder is wrong)`);
  const msOf = (key: string) => entryMs(table, table.entries[key]!);
  const tableMs = ops.reduce((s, o) => s + msOf(o.key), 0);
  const rest = points.filter((pt) => !keys.has(pt.key));
  const strict = LatencyEstimator.fit(table.name, rest);
  const strictMs = ops.reduce((s, o) => s + strict.estimate(o.op), 0);
  const fromOtherTypes = ops
    .filter((o) => !strict.covers(o.op.op))
    .map((o) => ({ key: o.key, tableMs: msOf(o.key), estimatedMs: strict.estimate(o.op) }));
  // Keep the entries of op types left with none (the network's fixed ops): only its blocks are estimated.
  const kept = points.filter((pt) => !keys.has(pt.key) || !rest.some((r) => r.op === pt.op));
  const estimator = LatencyEstimator.fit(table.name, kept);
  const estimated = ops.filter((o) => !kept.some((pt) => pt.key === o.key));
  const estimatedMs = estimated.reduce((s, o) => s + estimator.estimate(o.op), 0);
  const estimatedTableMs = estimated.reduce((s, o) => s + msOf(o.key), 0);
  return {
    name: spec.name,
    tableMs,
    strictMs,
    fromOtherTypes,
    blocksOutMs: tableMs - estimatedTableMs + estimatedMs,
    estimatedMs,
    estimatedTableMs,
    estimatedOps: estimated.length,
  };
}

function networkSummary(rows: NetworkRow[]) {
  const errors = (f: (r: NetworkRow) => number | null) =>
    rows
      .map((r) => f(r))
      .filter((e): e is number => e !== null)
      .map((e) => Math.abs(e))
      .sort((a, b) => a - b);
  const describe = (e: number[]) => ({
    priced: e.length,
    within5: e.length ? e.filter((x) => x <= 0.05).length / rows.length : 0,
    medianAbsError: e.length ? quantile(e, 0.5) : null,
    p90AbsError: e.length ? quantile(e, 0.9) : null,
    maxAbsError: e.at(-1) ?? null,
  });
  return {
    networks: rows.length,
    strict: describe(errors((r) => r.strictMs / r.tableMs - 1)),
    fromOtherTypes: otherTypesSummary(rows),
    blocksOut: describe(errors((r) => r.blocksOutMs / r.tableMs - 1)),
    estimatedPart: describe(errors((r) => r.estimatedMs / r.estimatedTableMs - 1)),
    meanEstimatedShare: rows.reduce((s, r) => s + r.estimatedTableMs / r.tableMs, 0) / rows.length,
    tableMsRange: [Math.min(...rows.map((r) => r.tableMs)), Math.max(...rows.map((r) => r.tableMs))],
  };
}

function tables(): { name: string; table: LatencyTable }[] {
  const list = [{ name: 'embedded (tables/default.json)', table: loadTable() }];
  const ofa = path.join(TABLES_DIR, 'ofa-note10-224.yaml');
  const proxyless = path.join(TABLES_DIR, 'proxylessnas-mobile.yaml');
  if (existsSync(ofa)) list.push({ name: 'OFA Note10 224', table: importTable(ofa, 'ofa', 'bench') });
  else console.error(`${ofa}: absent, skipped`);
  if (existsSync(proxyless)) list.push({ name: 'ProxylessNAS mobile', table: importTable(proxyless, 'proxyless', 'bench') });
  else console.error(`${proxyless}: absent, skipped`);
  return list;
}

function markdown(
  reports: TableReport[],
  networks: ReturnType<typeof networkSummary> | null,
  noise: ReturnType<typeof shortcutPairs>,
): string {
  const lines = [
    markdownTable(
      [
        'table',
        'entries',
        'predicted',
        'within +-10% (of predicted)',
        'within +-10% (of all)',
        'median',
        'p90',
        'max',
        'base alone: within +-10%, median',
      ],
      reports.map((r) => [
        r.name,
        String(r.entries),
        String(r.loo.entries),
        pct(r.loo.within10),
        pct(r.within10OfAll),
        pct(r.loo.medianAbsError),
        pct(r.loo.p90AbsError),
        pct(r.loo.maxAbsError, 0),
        `${pct(r.baseOnly.within10)}, ${pct(r.baseOnly.medianAbsError)}`,
      ]),
    ),
    '',
    'By op type (within +-10%, median |error|, timed entries predicted / timed entries):',
    '',
    markdownTable(
      ['table', ...new Set(reports.flatMap((r) => Object.keys(r.byOpType)))],
      reports.map((r) => [
        r.name,
        ...[...new Set(reports.flatMap((x) => Object.keys(x.byOpType)))].map((op) => {
          const s = r.byOpType[op];
          return s ? `${pct(s.within10)}, ${pct(s.medianAbsError)} (${s.entries}/${s.entries + s.unpredictable})` : '';
        }),
      ]),
    ),
    '',
    'Interpolation (`--interpolate`) vs the estimator on the entries interpolation prices without them:',
    '',
    markdownTable(
      [
        'table',
        'checked',
        'between neighbours: n',
        'interpolation within 10% / median',
        'estimator',
        'beyond them: n',
        'extrapolation',
        'estimator',
      ],
      reports.map((r) => {
        const i = r.interpolation;
        const cell = (s: LooStats) => `${pct(s.within10)} / ${pct(s.medianAbsError)}`;
        return [
          r.name,
          String(i.checked),
          String(i.interpolated.entries),
          cell(i.interpolated.interpolation),
          cell(i.interpolated.estimator),
          String(i.extrapolated.entries),
          cell(i.extrapolated.interpolation),
          cell(i.extrapolated.estimator),
        ];
      }),
    ),
  ];
  if (noise)
    lines.push(
      '',
      `Embedded table noise: ${noise.pairs} pairs of entries differing only by an identity shortcut, log(X-res / X): median ${noise.medianLogRatio.toFixed(3)}, standard deviation ${noise.sdLogRatio.toFixed(3)} (about ${pct(noise.sdLogRatio / Math.SQRT2)} per entry); by op type: ${Object.entries(
        noise.byOpType,
      )
        .map(([op, s]) => `${op} ${s.sdLogRatio.toFixed(3)} (${s.pairs})`)
        .join(', ')}.`,
    );
  if (networks) lines.push('', networksMarkdown(networks));
  return lines.join('\n');
}

function networksMarkdown(n: ReturnType<typeof networkSummary>): string {
  const row = (name: string, s: ReturnType<typeof networkSummary>['strict']) => [
    name,
    `${s.priced}/${n.networks}`,
    pct(s.within5),
    pct(s.medianAbsError, 2),
    pct(s.p90AbsError, 2),
    pct(s.maxAbsError, 2),
  ];
  return [
    `${n.networks} random members of the OFA-like space on OFA Note10 224 (table sums ${n.tableMsRange.map((x) => x.toFixed(1)).join('-')} ms), predicted vs the table's own sum:`,
    '',
    markdownTable(
      ['what is estimated', 'priced', 'within +-5%', 'median |error|', 'p90', 'max'],
      [
        row('every op (all its entries left out of the fit)', n.strict),
        row(`its blocks (their entries left out; ${pct(n.meanEstimatedShare, 0)} of its latency), fixed ops from the table`, n.blocksOut),
        row('its blocks alone, vs their table sum', n.estimatedPart),
      ],
    ),
    '',
    otherTypesMarkdown(n.fromOtherTypes),
  ].join('\n');
}

/** Per op priced from the other types, over the networks that have it: its table latency and its estimates' range. */
function otherTypesSummary(rows: NetworkRow[]) {
  const byKey = new Map<string, { tableMs: number; estimates: number[] }>();
  for (const { key, tableMs, estimatedMs } of rows.flatMap((r) => r.fromOtherTypes)) {
    if (!byKey.has(key)) byKey.set(key, { tableMs, estimates: [] });
    byKey.get(key)!.estimates.push(estimatedMs);
  }
  return [...byKey].map(([key, { tableMs, estimates }]) => ({
    key,
    networks: estimates.length,
    tableMs,
    estimatedMs: [Math.min(...estimates), Math.max(...estimates)],
  }));
}

function otherTypesMarkdown(ops: ReturnType<typeof otherTypesSummary>): string {
  if (!ops.length) return '';
  const signed = (e: number) => `${e >= 0 ? '+' : ''}${pct(e, 0)}`;
  const range = ([lo, hi]: number[], table: number) =>
    `${lo!.toFixed(3)}-${hi!.toFixed(3)} (${signed(lo! / table - 1)} to ${signed(hi! / table - 1)})`;
  return [
    "With every entry of a network left out, these ops' types have no entries left (the table's only ones are in every member); the estimator prices them from the table's other op types:",
    '',
    markdownTable(
      ['op', 'networks', 'table ms', 'estimated ms (error)'],
      ops.map((o) => [`\`${o.key}\``, String(o.networks), o.tableMs.toFixed(3), range(o.estimatedMs, o.tableMs)]),
    ),
  ].join('\n');
}

async function main() {
  const rng = derive(SEED, 'latency-estimator');
  const reports: TableReport[] = [];
  let networks: ReturnType<typeof networkSummary> | null = null;
  let rows: NetworkRow[] = [];
  for (const { name, table } of tables()) {
    const { points, predicted, ...report } = looReport(name, table);
    reports.push({ ...report, interpolation: interpolationReport(table, points, predicted, derive(SEED, 'interpolation', name)) });
    if (name.startsWith('OFA')) {
      rows = Array.from({ length: NETWORKS }, (_, i) => priceNetwork(ofaMember(rng, i), table, points));
      networks = networkSummary(rows);
    }
  }
  const noise = shortcutPairs(loadTable());
  await writeBenchRecord(OUT, 'bench-latency-estimator', {
    machine: { ...benchMachine(), memoryGiB: Math.round(totalmem() / 2 ** 30) },
    seed: SEED,
    settings: DEFAULT_ESTIMATOR_SETTINGS,
    tables: reports,
    noise,
    networks,
    networkRows: rows,
  });
  process.stdout.write(`${markdown(reports, networks, noise)}\n\n(${benchCommand()}, seed ${SEED}; ${OUT})\n`);
}

await main();
