/**
 * Latency questions about a whole search space, answered exactly from a table: does the table
 * cover the space, and how fast is the space's fastest member (a dynamic programme over stages,
 * since latency is additive over ops and a stage's ops depend only on its input width; within a
 * stage, layers drawn per layer are independent, so each takes its fastest alternative). A table
 * that lacks some of the space's ops can be completed by its estimator.
 */
import type { Rng } from '../../common/rng.js';
import type { ChoiceSpace, LayerOptions } from '../../search-space/choice-space.js';
import type { Shape, Unit } from '../../search-space/resolve.js';
import { type Caveat, caveatSummary, estimatorFor } from './estimator.js';
import { opKey, parseOpKey, unitOp } from './ops.js';
import { entryMs, type LatencyTable } from './table-schema.js';

/** Keys of the space's ops (at `resolution`, with a `classes`-wide classifier) missing from the table. */
export function missingSpaceKeys(space: ChoiceSpace, table: LatencyTable, resolution: number, classes: number): string[] {
  const keys = new Set<string>();
  for (const unit of space.units(resolution)) {
    // The space lists classifiers for each of its class counts; the run needs the one it deploys.
    const op = unitOp(unit);
    keys.add(opKey(unit.kind === 'classifier' && op.op === 'dense' ? { ...op, out: classes } : op));
  }
  return [...keys].filter((k) => !table.entries[k]);
}

/** A table completed for a space (withEstimatedSpaceKeys). */
export interface CompletedTable {
  /** The table with an entry for every op of the space (in memory; never written). */
  table: LatencyTable;
  /** The keys the estimator priced. */
  estimated: string[];
  /** What those estimates could not know, per op type (estimator.ts caveatSummary). */
  caveats: string[];
}

/**
 * The table with every op of the space it lacks priced once by its latency estimator, so that a
 * search prices members from entries alone (and the fastest member is found as for any table).
 * An op type the table has no entries of is priced from its other types, with a caveat saying so.
 */
export function withEstimatedSpaceKeys(space: ChoiceSpace, table: LatencyTable, resolution: number, classes: number): CompletedTable {
  const missing = missingSpaceKeys(space, table, resolution, classes);
  if (!missing.length) return { table, estimated: [], caveats: [] };
  const estimator = estimatorFor(table);
  const entries = { ...table.entries };
  const caveats: Caveat[] = [];
  for (const key of missing) {
    const { ms, caveat } = estimator.estimateWithCaveat(parseOpKey(key)!);
    if (caveat) caveats.push(caveat);
    entries[key] = { mean: ms, median: ms, p25: ms, std: 0, runs: 1 };
  }
  // The stored estimator was fitted on the measured entries, not on these.
  const { estimator: _fitted, ...rest } = table;
  return { table: { ...rest, entries }, estimated: missing, caveats: caveatSummary(caveats) };
}

function unitsMs(units: readonly Unit[], table: LatencyTable): number {
  let sum = 0;
  for (const u of units) {
    const entry = table.entries[opKey(unitOp(u))];
    if (!entry) return Infinity;
    sum += entryMs(table, entry);
  }
  return sum;
}

/** The fastest alternative of a layer (0 when it may be left out); layers repeated in a stage share their options, so the cache hits. */
function fastestLayerMs(layer: LayerOptions, table: LatencyTable, cache: Map<LayerOptions, number>): number {
  let ms = cache.get(layer);
  if (ms === undefined) {
    ms = layer.optional ? 0 : Infinity;
    for (const unit of layer.units) ms = Math.min(ms, unitsMs([unit], table));
    cache.set(layer, ms);
  }
  return ms;
}

/** The predicted latency of the fastest member of the space (including the table's overhead). */
export function fastestLatency(space: ChoiceSpace, table: LatencyTable, resolution: number, classes: number): number {
  let frontier = new Map<string, { shape: Shape; ms: number }>(
    space.stemUnits(resolution).map((stem) => [stem.outShape.join('x'), { shape: stem.outShape, ms: unitsMs([stem], table) }]),
  );
  const cache = new Map<LayerOptions, number>();
  space.definition.stages.forEach((_, index) => {
    const next = new Map<string, { shape: Shape; ms: number }>();
    for (const { shape, ms } of frontier.values()) {
      for (const variant of space.stageVariants(index, shape)) {
        const total = ms + variant.layers.reduce((sum, layer) => sum + fastestLayerMs(layer, table, cache), 0);
        const key = variant.outShape.join('x');
        if (total < (next.get(key)?.ms ?? Infinity)) next.set(key, { shape: variant.outShape, ms: total });
      }
    }
    frontier = next;
  });
  let best = Infinity;
  for (const { shape, ms } of frontier.values()) best = Math.min(best, ms + unitsMs(space.headUnits(shape, classes), table));
  return table.scale * best + table.overheadMs;
}

/** A member of a space with its predicted latency. */
export interface PricedMember {
  choices: number[];
  latencyMs: number;
}

/**
 * Uniformly random members of the space whose predicted latency is within `tolerance` of
 * `targetMs` (rejection sampling: uniform draws, the others discarded), in the order drawn, until
 * `count` are found or `maxDraws` draws are spent: random search's members at a latency, the
 * baseline a search's find should beat.
 */
export function membersNear(
  space: ChoiceSpace,
  priceMs: (choices: readonly number[]) => number,
  band: { targetMs: number; tolerance: number },
  count: number,
  rng: Rng,
  maxDraws = 200_000,
): PricedMember[] {
  const members: PricedMember[] = [];
  for (let draw = 0; draw < maxDraws && members.length < count; draw++) {
    const choices = space.randomChoices(rng);
    const latencyMs = priceMs(choices);
    if (Math.abs(latencyMs / band.targetMs - 1) <= band.tolerance) members.push({ choices, latencyMs });
  }
  return members;
}
