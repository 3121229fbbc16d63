/**
 * The predictor: LAT(spec) = scale x (sum of the table entries of its ops) + overhead, with the
 * table's scale and overhead fitted on whole-model runs (1 and 0 for imported phone tables, whose
 * projects predict the plain sum).
 *
 * A key missing from the table is an error listing every missing key, unless asked otherwise:
 * - `estimate`: the table's latency estimator (estimator.ts: per op type, fitted on the table's
 *   entries) prices it, flagged `estimated`; an op type the table has no entries of is refused.
 * - `interpolate`: estimated from measured ops of the same family (same op kind, input size,
 *   kernel, stride, activation, SE gate and shortcut; only channel counts differ), linearly in
 *   multiply-adds between the two nearest measured neighbours (`interpolated`), or scaled from the
 *   nearest one when it lies outside them (`extrapolated`); an op without a family is an error.
 * They are alternatives, not layers: left out of the embedded table, entries between two measured
 * neighbours are within 10% of the estimator's prediction more often than of the interpolation
 * (80% vs 62%), those beyond them far more often (83% vs 52%); on the phone tables the two tie
 * between neighbours and the estimator wins beyond them (results/latency.md). Interpolation stays
 * for what it is: the plain, explainable reading of the table's own neighbours.
 * The prediction lists the ops it did not find in the table.
 */

import { commandLine, shellArg } from '../../common/command-line.js';
import { InputError } from '../../common/errors.js';
import { countOf } from '../../common/format.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import { unitCost } from '../../search-space/cost.js';
import { deploymentInput, withInput } from '../../search-space/io.js';
import { caveatText, estimatorFor } from './estimator.js';
import { type OpDescriptor, opUnit, parseOpKey, specOps } from './ops.js';
import { completedByProfiling, entryMs, type LatencyTable } from './table-schema.js';

export type OpSource = 'measured' | 'interpolated' | 'extrapolated' | 'estimated';

/** How ops missing from a table are priced (see the header): one of them, or neither (they are an error). */
export interface MissingOptions {
  interpolate?: boolean | undefined;
  estimate?: boolean | undefined;
}

export interface PredictOptions extends MissingOptions {
  /** How the user gave the spec, for the advice when the table lacks its resolution. */
  input?: PricedInput | undefined;
}

export interface OpPrediction {
  id: string;
  key: string;
  ms: number;
  source: OpSource;
  /** What an estimate could not know (traits no entry of its op type has, or every entry at 0 ms: estimator.ts). */
  caveats?: string[];
}

export interface Prediction {
  table: string;
  totalMs: number;
  sumMs: number;
  scale: number;
  overheadMs: number;
  ops: OpPrediction[];
  /** Ops not in the table, interpolated or estimated (empty when every key was measured). */
  estimated: string[];
}

export class MissingKeysError extends InputError {
  readonly table: string;
  constructor(
    table: LatencyTable,
    readonly keys: string[],
  ) {
    const estimate = 'estimate them (--estimate: a model fitted on the table; --interpolate: between measured widths)';
    const what = completedByProfiling(table)
      ? `profile them into it (nas profile --arch SPEC --out TABLE) or ${estimate}`
      : `it was measured on ${table.device.name}, which profiling this machine cannot add to: ${estimate}`;
    super(
      `table ${table.name} has no entry for ${countOf(keys.length, 'op')} of this spec: ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? `, ... (${keys.length - 5} more)` : ''}; ${what}`,
    );
    this.table = table.name;
  }
}

/** How the caller names the spec and the option that sets the resolution it is priced at: what a resolution the table lacks suggests. */
export interface PricedInput {
  /** The spec as the user gave it (a zoo name or a file). */
  arch: string;
  /** The option that sets the priced resolution, e.g. `--resolution`. */
  resolutionOption: string;
}

/**
 * The spec's input resolution must be one the table was profiled for; otherwise the error suggests
 * pricing it at the table's (nearest) resolution, or profiling a table at the spec's.
 */
export function checkResolution(spec: ArchSpec, table: LatencyTable, input?: PricedInput): void {
  const r = spec.input.resolution;
  if (!table.resolutions.length || table.resolutions.includes(r)) return;
  const nearest = table.resolutions.reduce((a, b) => (Math.abs(b - r) < Math.abs(a - r) ? b : a));
  const out = `${table.name}-${r}.json`;
  const profile = commandLine(['nas', 'profile', '--arch', input?.arch ?? spec.name, '--resolution', r, '--out', out]);
  throw new InputError(
    `table ${table.name} was profiled at ${table.resolutions.map((x) => `${x}x${x}`).join(', ')}, the spec is ${r}x${r}: price it at ${nearest}${input ? ` (${input.resolutionOption} ${nearest})` : ''}, or profile a table at ${r} (${profile}) and price on it (--table ${shellArg(out)})`,
  );
}

/**
 * The spec as the table can price it: itself, or (when the table lacks its resolution) the spec at
 * the deployment input its provenance records, with a note saying so.
 */
export function atTableInput(spec: ArchSpec, table: LatencyTable): { spec: ArchSpec; note: string | null } {
  const r = spec.input.resolution;
  const deployment = deploymentInput(spec);
  if (!table.resolutions.length || table.resolutions.includes(r) || !deployment || !table.resolutions.includes(deployment.resolution)) {
    return { spec, note: null };
  }
  return {
    spec: withInput(spec, deployment),
    note: `priced at its deployment input ${deployment.resolution}x${deployment.resolution}, ${deployment.classes} classes (provenance.deployment; the spec itself is ${r}x${r}, ${spec.classes} classes)`,
  };
}

/** Where a latency is asked for (an experiment's `latency` section): the deployed input, and whether ops missing from the table are estimated. */
export interface DeploymentLatency {
  resolution: number;
  classes: number;
  missing?: 'error' | 'estimate' | undefined;
}

/** A spec's predicted latency (ms) deployed at that input, whatever input it was trained at; `what` names it in errors. */
export function deployedLatencyMs(spec: ArchSpec, table: LatencyTable, at: DeploymentLatency, what = spec.name): number {
  const deployed = withInput(spec, { resolution: at.resolution, classes: at.classes }, what);
  return predictLatency(deployed, table, { estimate: at.missing === 'estimate' }).totalMs;
}

export function predictLatency(spec: ArchSpec, table: LatencyTable, options: PredictOptions = {}): Prediction {
  checkResolution(spec, table, options.input);
  checkMissingOptions(options);
  const ops = specOps(spec);
  const missing = ops.filter((o) => !table.entries[o.key]).map((o) => o.key);
  if (missing.length && !options.interpolate && !options.estimate) throw new MissingKeysError(table, [...new Set(missing)]);
  const price = missing.length ? missingPricer(table, options) : null;
  const predicted = ops.map((o): OpPrediction => {
    const entry = table.entries[o.key];
    if (entry) return { id: o.id, key: o.key, ms: entryMs(table, entry), source: 'measured' };
    const estimate = price!(o.op);
    if (!estimate) throw new MissingKeysError(table, [o.key]);
    return { id: o.id, key: o.key, ...estimate };
  });
  const sumMs = predicted.reduce((s, p) => s + p.ms, 0);
  return {
    table: table.name,
    totalMs: table.scale * sumMs + table.overheadMs,
    sumMs,
    scale: table.scale,
    overheadMs: table.overheadMs,
    ops: predicted,
    estimated: predicted.filter((p) => p.source !== 'measured').map((p) => p.key),
  };
}

type Pricer = (d: OpDescriptor) => { ms: number; source: OpSource; caveats?: string[] } | null;

function checkMissingOptions(options: MissingOptions): void {
  if (options.interpolate && options.estimate)
    throw new InputError(
      'interpolation and the estimator are alternatives: choose one (--estimate: a model fitted on the whole table; --interpolate: between measured widths)',
    );
}

/** Prices an op the table lacks as the options say (see the header); null when interpolation finds no family. */
export function missingPricer(table: LatencyTable, options: MissingOptions): Pricer {
  checkMissingOptions(options);
  if (options.estimate) {
    const estimator = estimatorFor(table);
    return (d) => {
      const { ms, caveat } = estimator.estimateWithCaveat(d);
      return caveat ? { ms, source: 'estimated', caveats: [caveatText(caveat)] } : { ms, source: 'estimated' };
    };
  }
  const interpolator = new FamilyInterpolator(table);
  return (d) => interpolator.estimate(d);
}

/**
 * Family of an op: everything but its channel counts (a convolution's kind, input size, kernel,
 * stride, activation, SE gate and shortcut; a dense layer's activation; the input size of the rest).
 */
function familyOf(d: OpDescriptor): string {
  switch (d.op) {
    case 'conv':
    case 'dsconv':
    case 'bneck':
      return [d.op, d.in[0], d.in[1], d.kernel, d.stride, d.act, d.se ? `${d.se.gate}.${d.se.activation}` : 'nose', d.residual].join('|');
    case 'dense':
      return [d.op, d.act].join('|');
    default:
      return [d.op, d.in[0], d.in[1]].join('|');
  }
}

function opMadds(d: OpDescriptor): number {
  return unitCost(opUnit(d)).madds;
}

class FamilyInterpolator {
  private readonly families = new Map<string, { madds: number; ms: number }[]>();

  constructor(table: LatencyTable) {
    for (const [key, entry] of Object.entries(table.entries)) {
      const d = parseOpKey(key);
      if (!d) continue;
      const family = familyOf(d);
      if (!this.families.has(family)) this.families.set(family, []);
      this.families.get(family)!.push({ madds: opMadds(d), ms: entryMs(table, entry) });
    }
    for (const points of this.families.values()) points.sort((a, b) => a.madds - b.madds);
  }

  estimate(d: OpDescriptor): { ms: number; source: OpSource } | null {
    const points = this.families.get(familyOf(d));
    if (!points?.length) return null;
    const x = opMadds(d);
    const upper = points.findIndex((p) => p.madds >= x);
    if (upper > 0) {
      const lo = points[upper - 1]!;
      const hi = points[upper]!;
      const t = hi.madds === lo.madds ? 0 : (x - lo.madds) / (hi.madds - lo.madds);
      return { ms: lo.ms + t * (hi.ms - lo.ms), source: 'interpolated' };
    }
    const nearest = upper === 0 ? points[0]! : points[points.length - 1]!;
    return { ms: nearest.madds > 0 ? (nearest.ms * x) / nearest.madds : nearest.ms, source: 'extrapolated' };
  }
}
