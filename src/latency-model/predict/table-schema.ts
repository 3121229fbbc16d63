/**
 * Latency tables: measured per-op latencies of one device, keyed by canonical op keys (ops.ts).
 * A versioned JSON file: device metadata, profiler settings, where it came from, the constant
 * overhead of a whole model, and the entries.
 */
import { z } from 'zod';
import { InputError } from '../../common/errors.js';
import { otherKindError } from '../../common/file-kinds.js';
import { readJsonFile } from '../../common/json-io.js';
import { parseWith } from '../../common/validate.js';
import { EstimatorSchema } from './estimator-schema.js';
import { parseOpKey } from './ops.js';

export const LATENCY_TABLE_VERSION = 1;
/** Tables larger than this are refused (a posted table, a foreign file). */
export const MAX_TABLE_ENTRIES = 200_000;

/** What an op key looks like, for messages (the key of V3-Large's sixth block). */
const KEY_EXAMPLE = 'bneck-in:28x28x40-exp:120-out:40-k:5-s:1-act:relu-se:32.hsigmoid.relu-res';

export const EntrySchema = z.strictObject({
  mean: z.number().min(0),
  median: z.number().min(0),
  /** 25th percentile: the statistic least disturbed by other work on a shared machine. */
  p25: z.number().min(0).optional(),
  std: z.number().min(0),
  runs: z.int().min(1),
});
export type Entry = z.infer<typeof EntrySchema>;

export const DeviceSchema = z.looseObject({
  name: z.string().min(1),
  /** What executes the model: `tfjs-layers` (LayersModel.predict), `tflite`, ... */
  runtime: z.string(),
  backend: z.string(),
  threads: z.int().min(1),
  cpu: z.string(),
  tfjsVersion: z.string().nullable(),
  /**
   * Version(s) of the runtime the table was measured with: `tfjs 4.22.0 (wasm), Node v20.19.0` for
   * a profile on this machine, `tfjs 4.22.0 (wasm)` in a browser, an imported table's
   * `--runtime-version` (null: not known). Absent in tables written before it was recorded.
   */
  runtimeVersion: z.string().nullable().optional(),
  /** Browser user agent when profiled on a phone. */
  userAgent: z.string().optional(),
  date: z.string(),
});
export type Device = z.infer<typeof DeviceSchema>;

export const ProfilerSettingsSchema = z.strictObject({
  warmupRuns: z.int().min(0),
  minRuns: z.int().min(1),
  maxRuns: z.int().min(1),
  minMillis: z.number().min(0),
  batch: z.int().min(1),
  statistic: z.enum(['median', 'mean', 'p25']),
});
export type ProfilerSettings = z.infer<typeof ProfilerSettingsSchema>;

export const OverheadFitSchema = z.strictObject({
  /** Whole models measured to fit the overhead: name, measured ms, sum of entries. */
  models: z.array(z.strictObject({ name: z.string(), measuredMs: z.number(), sumMs: z.number() })),
  method: z.string(),
});

export const LatencyTableSchema = z
  .strictObject({
    schemaVersion: z.literal(LATENCY_TABLE_VERSION),
    kind: z.literal('latency-table'),
    name: z.string().min(1),
    device: DeviceSchema,
    profiler: ProfilerSettingsSchema.nullable(),
    source: z.looseObject({ command: z.string(), importedFrom: z.string().optional() }),
    /** Input resolutions the table was profiled for. */
    resolutions: z.array(z.int().positive()),
    /**
     * The prediction is scale x (sum of entries) + overheadMs, both fitted on whole-model runs: ops
     * timed alone run with their weights hot in cache, in a whole model they are not.
     */
    scale: z.number().positive().default(1),
    /**
     * The speed probe (src/latency-model/measure/profile.ts) at the table's reference machine speed:
     * entries and calibration models are scaled to it. Absent in imported tables.
     */
    probe: z.strictObject({ key: z.string(), ms: z.number().positive() }).optional(),
    overheadMs: z.number(),
    overheadFit: OverheadFitSchema.nullable(),
    entries: z.record(z.string(), EntrySchema),
    /**
     * The latency estimator fitted on the entries, with its leave-one-out errors (`nas table fit`;
     * estimator.ts). Optional: without it, or when the entries changed since, it is fitted on use.
     */
    estimator: EstimatorSchema.optional(),
  })
  .superRefine((table, ctx) => {
    const keys = Object.keys(table.entries);
    if (keys.length > MAX_TABLE_ENTRIES)
      ctx.addIssue({ code: 'custom', path: ['entries'], message: `${keys.length} entries, more than the limit of ${MAX_TABLE_ENTRIES}` });
    for (const key of keys) {
      if (!parseOpKey(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['entries', key],
          message: `not a canonical op key (keys look like ${KEY_EXAMPLE}, as nas profile and nas table import write them)`,
        });
        break;
      }
    }
  });
export type LatencyTable = z.infer<typeof LatencyTableSchema>;

/**
 * Whether profiling more ops into the table (`nas profile --arch SPEC --out TABLE`, on the machine
 * it was profiled on) can complete it: not for an imported table (a phone's, published) nor a
 * phone browser's (`nas profile --serve` writes a new table to --out, it does not add to one).
 */
export function completedByProfiling(table: LatencyTable): boolean {
  return table.source.importedFrom === undefined && table.device.userAgent === undefined;
}

export function parseLatencyTable(data: unknown, file: string): LatencyTable {
  const other = otherKindError(data, file, ['latency-table'], 'a latency table');
  if (other) throw other;
  if (data && typeof data === 'object' && (data as { kind?: unknown }).kind !== 'latency-table') {
    throw new InputError(
      `${file}: not a latency table (kind is ${JSON.stringify((data as { kind?: unknown }).kind)}, expected "latency-table")`,
    );
  }
  return parseWith(LatencyTableSchema, data, file);
}

export function readLatencyTable(file: string): LatencyTable {
  return parseLatencyTable(readJsonFile(file), file);
}

/** The latency an entry contributes, by the table's statistic. */
export function entryMs(table: LatencyTable, entry: Entry): number {
  const statistic = table.profiler?.statistic ?? 'median';
  if (statistic === 'p25') return entry.p25 ?? entry.median;
  return statistic === 'mean' ? entry.mean : entry.median;
}
