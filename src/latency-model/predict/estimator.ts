/**
 * A latency model that generalises beyond a table's keys (nn-Meter's idea: one predictor per op
 * type), for the ops a table lacks.
 *
 * For each op type (`conv`, `dsconv`, `bneck`, `dense`, ...) the estimate is a base model times a
 * correction:
 * - base: a non-negative combination of the op's features (features.ts: multiply-adds by kernel
 *   kind, activated, gated and added elements, bytes moved, layers, a constant), fitted on the
 *   table's entries of that type by non-negative least squares of relative errors (each entry
 *   counts by its error in percent, so small ops weigh as much as large ones). It extrapolates as
 *   the work does: to a width no entry has, to a smaller or larger op.
 * - correction: the base's log-residuals on the table's entries, averaged with Gaussian weights by
 *   how similar each entry is to the op (its coordinates: input size, widths, kernel, stride,
 *   flags), with a zero residual of weight `shrinkage` in the average. What the base misses about a
 *   region of the table (a cache that overflows at one input size, a kernel slower than its
 *   multiply-adds say) carries over to the ops near it; far from every entry the base stands alone.
 *
 * An op type the table has fewer than MIN_TYPE_ENTRIES timed entries of (a published table's one
 * pooling, its stem and head conv, or none) is priced by one model of every entry of the table at
 * once (AllOpTypesModel, every matrix product counted as a 1x1 convolution), with a caveat saying
 * so; a table with no timed entry at all is refused, never priced at 0 (a type whose entries are
 * all 0 ms, an imported table's placeholder, is priced 0 as the table prices it). The quality
 * is measured by leave-one-out: each entry predicted from a model fitted on the others.
 * `nas table fit` stores the coefficients, settings and those errors in the table
 * (estimator-schema.ts); a table whose entries changed since is fitted again on use.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../../common/errors.js';
import { quantile } from '../../common/quantile.js';
import { ESTIMATOR_METHOD, type LooStats, type OpModel, type StoredEstimator } from './estimator-schema.js';
import { ESTIMATOR_COORDINATES, ESTIMATOR_FEATURES, opCoordinates, opTraits, unitFeatures } from './features.js';
import { accumulate, emptyNormalEquations, nnls } from './nnls.js';
import { OP_KINDS, type OpDescriptor, type OpKind, opKey, opUnit, parseOpKey } from './ops.js';
import { entryMs, type LatencyTable } from './table-schema.js';

export interface EstimatorSettings {
  /** Ridge on the normalised coefficients, per fitted entry: keeps collinear features apart. */
  ridge: number;
  /** Kernel width in each coordinate (ESTIMATOR_COORDINATES). */
  scales: readonly number[];
  /** Weight of a zero residual in the smoothing average. */
  shrinkage: number;
}

export const DEFAULT_ESTIMATOR_SETTINGS: EstimatorSettings = {
  ridge: 1e-6,
  scales: ESTIMATOR_COORDINATES.map((c) => c.scale),
  shrinkage: 0.5,
};

/** A table entry as the estimator fits it. */
export interface FitPoint {
  key: string;
  op: OpKind;
  features: number[];
  /** The features with every matrix product counted as a 1x1 convolution (features.ts, 'asGemm'): what AllOpTypesModel fits. */
  gemmFeatures: number[];
  coords: number[];
  traits: string[];
  ms: number;
}

/** An op the estimator was asked for while the table has no timed entry to estimate it from. */
export class NoEntriesToEstimateFromError extends InputError {
  constructor(
    readonly table: string,
    readonly key: string,
  ) {
    super(
      `table ${table} has no timed entries, so it cannot estimate ${key}: profile ops into it (nas profile --arch SPEC --out TABLE) or use another table`,
    );
  }
}

/** A point of an op (its latency unknown: NaN). */
export function opPoint(d: OpDescriptor, ms = Number.NaN): FitPoint {
  const unit = opUnit(d);
  return {
    key: opKey(d),
    op: d.op,
    features: unitFeatures(unit),
    gemmFeatures: unitFeatures(unit, 'asGemm'),
    coords: opCoordinates(d),
    traits: opTraits(d),
    ms,
  };
}

/** The entries of a table with their features and latencies (by the table's statistic). */
export function tablePoints(table: LatencyTable): FitPoint[] {
  return Object.entries(table.entries).flatMap(([key, entry]) => {
    const d = parseOpKey(key);
    return d ? [{ ...opPoint(d, entryMs(table, entry)), key }] : [];
  });
}

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);

/**
 * Coefficients (ms per unit of each feature, >= 0) minimising the sum of squared relative errors
 * over the points above 0 ms; all 0 when there are none. Columns are scaled to a largest value of
 * 1 before the fit so that the ridge treats them alike.
 */
export function fitCoefficients(points: readonly FitPoint[], ridge = DEFAULT_ESTIMATOR_SETTINGS.ridge): number[] {
  const p = ESTIMATOR_FEATURES.length;
  const fitted = points.filter((pt) => pt.ms > 0);
  const scale = new Array<number>(p).fill(0);
  for (const pt of fitted) for (let j = 0; j < p; j++) scale[j] = Math.max(scale[j]!, pt.features[j]! / pt.ms);
  const eq = emptyNormalEquations(p);
  const row = new Array<number>(p).fill(0);
  for (const pt of fitted) {
    for (let j = 0; j < p; j++) row[j] = scale[j]! > 0 ? pt.features[j]! / pt.ms / scale[j]! : 0;
    accumulate(eq, row, 1);
  }
  const x = fitted.length ? nnls(eq, ridge * fitted.length) : new Array<number>(p).fill(0);
  return x.map((v, j) => (scale[j]! > 0 ? v / scale[j]! : 0));
}

/**
 * What an estimate cannot know: traits (features.ts) no entry of its op type has, that every entry
 * is 0 ms, or that the table has no entry of its op type at all (`otherTypes`: priced from the others).
 */
export interface Caveat {
  op: OpKind;
  unknownTraits: string[];
  allZero: boolean;
  otherTypes?: boolean;
  /** With otherTypes: how many timed entries of its type the table has (fewer than MIN_TYPE_ENTRIES). */
  typeEntries?: number;
}

export function caveatText(c: Caveat): string {
  if (c.otherTypes)
    return c.typeEntries
      ? `only ${c.typeEntries} ${c.op} entry: estimated from a model of every op type`
      : `no ${c.op} entries: estimated from the table's other op types`;
  return c.allZero ? `every ${c.op} entry is 0 ms` : `no ${c.op} entry has ${c.unknownTraits.join(', ')}`;
}

/** Caveats merged per op type, as text: `no conv entry has relu, shortcut`. */
export function caveatSummary(caveats: Iterable<Caveat>): string[] {
  const merged = new Map<OpKind, Caveat>();
  for (const c of caveats) {
    const m = merged.get(c.op) ?? { ...c, unknownTraits: [] };
    m.unknownTraits = [...new Set([...m.unknownTraits, ...c.unknownTraits])];
    merged.set(c.op, m);
  }
  return [...merged.values()].map(caveatText);
}

/**
 * Timed entries an op type needs for a model of its own: one entry only fixes one ratio of its
 * sixteen features (a table's stem priced from its head conv was 44% off); with fewer, an op is
 * priced by the model of every type (AllOpTypesModel).
 */
export const MIN_TYPE_ENTRIES = 2;

/** Whether an op type with this many timed entries (above 0 ms) gets a model of its own. */
const hasOwnModel = (timedEntries: number) => timedEntries >= MIN_TYPE_ENTRIES;

/** One op type's model: the base coefficients and the log-residuals of its entries under them. */
export class OpTypeModel {
  private readonly residuals: { coords: readonly number[]; logRatio: number }[];
  /** Traits (features.ts) some entry above 0 ms has: the cost of the others is unknown. */
  private readonly traits: Set<string>;
  /** Every entry is 0 ms (an imported table's placeholder): the type is priced 0, as the table prices it. */
  readonly allZero: boolean;
  /** Entries above 0 ms. */
  readonly timedEntries: number;

  constructor(
    readonly coefficients: readonly number[],
    points: readonly FitPoint[],
    private readonly settings: EstimatorSettings,
  ) {
    this.residuals = points.flatMap((pt) => {
      const base = dot(coefficients, pt.features);
      return pt.ms > 0 && base > 0 ? [{ coords: pt.coords, logRatio: Math.log(pt.ms / base) }] : [];
    });
    const timed = points.filter((pt) => pt.ms > 0);
    this.timedEntries = timed.length;
    this.traits = new Set(timed.flatMap((pt) => pt.traits));
    this.allZero = points.length > 0 && !timed.length;
  }

  /** What an estimate of the point cannot know (traits no entry has, every entry at 0 ms), or null. */
  caveat(point: Pick<FitPoint, 'op' | 'traits'>): Caveat | null {
    const unknownTraits = point.traits.filter((t) => !this.traits.has(t));
    return this.allZero || unknownTraits.length ? { op: point.op, unknownTraits, allZero: this.allZero } : null;
  }

  static fit(points: readonly FitPoint[], settings = DEFAULT_ESTIMATOR_SETTINGS): OpTypeModel {
    return new OpTypeModel(fitCoefficients(points, settings.ridge), points, settings);
  }

  predict(point: Pick<FitPoint, 'features' | 'coords'>): number {
    const base = dot(this.coefficients, point.features);
    if (!(base > 0)) return 0;
    const { scales, shrinkage } = this.settings;
    let sum = 0;
    let weights = shrinkage;
    for (const r of this.residuals) {
      let d2 = 0;
      for (let k = 0; k < scales.length; k++) d2 += ((point.coords[k]! - r.coords[k]!) / scales[k]!) ** 2;
      const w = Math.exp(-d2 / 2);
      sum += w * r.logRatio;
      weights += w;
    }
    return weights > 0 ? base * Math.exp(sum / weights) : base;
  }
}

/** The point as AllOpTypesModel sees it: every matrix product a 1x1 convolution. */
const asGemm = <P extends Pick<FitPoint, 'features' | 'gemmFeatures'>>(point: P): P => ({ ...point, features: point.gemmFeatures });

/**
 * One model of every op type at once, for an op type with too few entries of its own. Fitted per
 * type, a dense layer's cost would be learnt from the squeeze-and-excite's tiny ones and a stem's
 * from nothing; here every matrix product is priced as a 1x1 convolution (a k x k one over its
 * im2col patches), whose cost the table's blocks show at every size.
 */
export class AllOpTypesModel {
  private constructor(private readonly model: OpTypeModel) {}

  /** Null when no point is timed (nothing to estimate from). */
  static fit(points: readonly FitPoint[], settings = DEFAULT_ESTIMATOR_SETTINGS): AllOpTypesModel | null {
    if (!points.some((pt) => pt.ms > 0)) return null;
    return new AllOpTypesModel(OpTypeModel.fit(points.map(asGemm), settings));
  }

  predict(point: Pick<FitPoint, 'features' | 'gemmFeatures' | 'coords'>): number {
    return this.model.predict(asGemm(point));
  }
}

export function byOpType(points: readonly FitPoint[]): Map<OpKind, FitPoint[]> {
  const groups = new Map<OpKind, FitPoint[]>();
  for (const pt of points) {
    if (!groups.has(pt.op)) groups.set(pt.op, []);
    groups.get(pt.op)!.push(pt);
  }
  return groups;
}

/** Prices ops from per-op-type models (each estimate computed once). */
export class LatencyEstimator {
  private readonly memo = new Map<string, { ms: number; caveat: Caveat | null }>();

  constructor(
    readonly table: string,
    readonly models: ReadonlyMap<OpKind, OpTypeModel>,
    /** For op types without entries; null when the table has no timed entry. */
    readonly allOpTypes: AllOpTypesModel | null,
  ) {}

  /** Fitted on the points (a table's entries, or some of them). */
  static fit(table: string, points: readonly FitPoint[], settings = DEFAULT_ESTIMATOR_SETTINGS): LatencyEstimator {
    const models = new Map<OpKind, OpTypeModel>();
    for (const [op, group] of byOpType(points)) models.set(op, OpTypeModel.fit(group, settings));
    return new LatencyEstimator(table, models, AllOpTypesModel.fit(points, settings));
  }

  /** Whether the table has enough entries of the op type for a model of its own (else its estimates come from every type's). */
  covers(op: OpKind): boolean {
    return hasOwnModel(this.models.get(op)?.timedEntries ?? 0);
  }

  /** The estimated latency (ms) of an op; refuses when the table has no timed entry at all. */
  estimate(d: OpDescriptor): number {
    return this.estimateWithCaveat(d).ms;
  }

  /** The estimate and what it cannot know (OpTypeModel.caveat; or that no entry is of its type). */
  estimateWithCaveat(d: OpDescriptor): { ms: number; caveat: Caveat | null } {
    const key = opKey(d);
    const known = this.memo.get(key);
    if (known) return known;
    const estimate = this.estimateOnce(d, key);
    this.memo.set(key, estimate);
    return estimate;
  }

  private estimateOnce(d: OpDescriptor, key: string): { ms: number; caveat: Caveat | null } {
    const point = opPoint(d);
    const model = this.models.get(d.op);
    if (model && (this.covers(d.op) || model.allZero)) return { ms: model.predict(point), caveat: model.caveat(point) };
    if (!this.allOpTypes) throw new NoEntriesToEstimateFromError(this.table, key);
    const caveat: Caveat = { op: d.op, unknownTraits: [], allZero: false, otherTypes: true, typeEntries: model?.timedEntries ?? 0 };
    return { ms: this.allOpTypes.predict(point), caveat };
  }
}

/**
 * Each point predicted as the estimator would price it without it: from a model fitted on the
 * other points of its op type when they are at least MIN_TYPE_ENTRIES timed ones, else from the
 * model of all other points (null: it is the table's only timed point).
 */
export function leaveOneOut(points: readonly FitPoint[], settings = DEFAULT_ESTIMATOR_SETTINGS): (number | null)[] {
  const groups = byOpType(points);
  return points.map((pt) => {
    const others = groups.get(pt.op)!.filter((o) => o !== pt);
    if (hasOwnModel(others.filter((o) => o.ms > 0).length)) return OpTypeModel.fit(others, settings).predict(pt);
    return (
      AllOpTypesModel.fit(
        points.filter((o) => o !== pt),
        settings,
      )?.predict(pt) ?? null
    );
  });
}

/** Error statistics of predictions against entries (entries at 0 ms have no relative error and are skipped). */
export function looStats(points: readonly FitPoint[], predicted: readonly (number | null)[]): LooStats {
  const errors: number[] = [];
  let unpredictable = 0;
  points.forEach((pt, i) => {
    const p = predicted[i];
    if (p === null || p === undefined) unpredictable++;
    else if (pt.ms > 0) errors.push(Math.abs(p / pt.ms - 1));
  });
  errors.sort((a, b) => a - b);
  const some = errors.length > 0;
  return {
    entries: errors.length,
    unpredictable,
    within10: some ? errors.filter((e) => e <= 0.1).length / errors.length : null,
    medianAbsError: some ? quantile(errors, 0.5) : null,
    p90AbsError: some ? quantile(errors, 0.9) : null,
    maxAbsError: errors.at(-1) ?? null,
  };
}

/** A digest of a table's keys and latencies: the stored estimator is current while it matches. */
export function entriesDigest(table: LatencyTable): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(table.entries).sort()) hash.update(`${key}=${entryMs(table, table.entries[key]!)}\n`);
  return hash.digest('hex').slice(0, 16);
}

/** The estimator of a table with its leave-one-out quality, as `nas table fit` stores it. */
export function fitEstimator(table: LatencyTable, command: string, settings = DEFAULT_ESTIMATOR_SETTINGS): StoredEstimator {
  const points = tablePoints(table);
  const predicted = leaveOneOut(points, settings);
  const predictedOf = new Map(points.map((pt, i) => [pt, predicted[i]!]));
  const models: Partial<Record<OpKind, OpModel>> = {};
  for (const [op, group] of byOpType(points)) {
    models[op] = {
      entries: group.filter((pt) => pt.ms > 0).length,
      zeroEntries: group.filter((pt) => pt.ms <= 0).length,
      coefficients: fitCoefficients(group, settings.ridge),
      loo: looStats(
        group,
        group.map((pt) => predictedOf.get(pt)!),
      ),
    };
  }
  return {
    method: ESTIMATOR_METHOD,
    features: [...ESTIMATOR_FEATURES],
    ridge: settings.ridge,
    smoothing: { coordinates: ESTIMATOR_COORDINATES.map((c) => c.name), scales: [...settings.scales], shrinkage: settings.shrinkage },
    fittedOn: { entries: points.length, digest: entriesDigest(table) },
    models,
    loo: looStats(points, predicted),
    command,
    date: new Date().toISOString(),
  };
}

/** The stored estimator when it is current (same features and coordinates, same entries), else null. */
function storedEstimator(table: LatencyTable): LatencyEstimator | null {
  const stored = table.estimator;
  if (
    !stored ||
    stored.features.join() !== ESTIMATOR_FEATURES.join() ||
    stored.smoothing.coordinates.join() !== ESTIMATOR_COORDINATES.map((c) => c.name).join() ||
    stored.fittedOn.digest !== entriesDigest(table)
  )
    return null;
  const settings: EstimatorSettings = { ridge: stored.ridge, scales: stored.smoothing.scales, shrinkage: stored.smoothing.shrinkage };
  const points = tablePoints(table);
  const groups = byOpType(points);
  const models = new Map<OpKind, OpTypeModel>();
  for (const op of OP_KINDS) {
    const model = stored.models[op];
    if (model) models.set(op, new OpTypeModel(model.coefficients, groups.get(op) ?? [], settings));
  }
  // Not stored: one fit over the entries, milliseconds even for the embedded table's 4,000.
  return new LatencyEstimator(table.name, models, AllOpTypesModel.fit(points, settings));
}

const cache = new WeakMap<LatencyTable, { entries: number; estimator: LatencyEstimator }>();

/** The table's estimator: the one stored in it when current, else fitted now (once per table and entry count). */
export function estimatorFor(table: LatencyTable): LatencyEstimator {
  const entries = Object.keys(table.entries).length;
  const cached = cache.get(table);
  if (cached?.entries === entries) return cached.estimator;
  const estimator = storedEstimator(table) ?? LatencyEstimator.fit(table.name, tablePoints(table));
  cache.set(table, { entries, estimator });
  return estimator;
}
