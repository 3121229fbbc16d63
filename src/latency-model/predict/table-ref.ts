/**
 * Which table priced a run: its content hash and its labels (device, runtime and version it was
 * measured with), as search and NetAdapt runs record them. The hash covers what prices a model
 * (the entries, the statistic, the scale and the overhead), not the labels or dates, so the same
 * published table imported twice, or a table relabelled, keeps its hash; a changed entry does not.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { LatencyTable } from './table-schema.js';

export const TableRefSchema = z.strictObject({
  name: z.string(),
  /** The table file (absolute), null for a table given in memory. */
  file: z.string().nullable(),
  /** `tableHash`: 16 hex digits. */
  hash: z.string(),
  device: z.string(),
  /** The runtime and its backend, e.g. `tfjs-layers (wasm)`, `tflite`. */
  runtime: z.string(),
  /** Version(s) of the runtime, null when the table does not say (an imported table without --runtime-version). */
  version: z.string().nullable(),
  /** The browser that profiled the table, for tables profiled on a phone's browser. */
  userAgent: z.string().optional(),
});
export type TableRef = z.infer<typeof TableRefSchema>;

/** Hash of what prices a model: entries (in key order), statistic, scale, overhead. */
export function tableHash(table: LatencyTable): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([table.profiler?.statistic ?? 'median', table.scale, table.overheadMs]));
  for (const key of Object.keys(table.entries).sort()) hash.update(`\n${key}\t${JSON.stringify(table.entries[key])}`);
  return hash.digest('hex').slice(0, 16);
}

/** The device, runtime and version a table was measured with (older tables: version from their tfjs version). */
export function tableLabels(table: LatencyTable): Pick<TableRef, 'device' | 'runtime' | 'version' | 'userAgent'> {
  const { device } = table;
  const backend = device.backend && device.backend !== 'unknown' && !device.runtime.includes(device.backend) ? ` (${device.backend})` : '';
  return {
    device: device.name,
    runtime: `${device.runtime}${backend}`,
    version: device.runtimeVersion ?? (device.tfjsVersion ? `tfjs ${device.tfjsVersion}` : null),
    ...(device.userAgent ? { userAgent: device.userAgent } : {}),
  };
}

export function tableRef(table: LatencyTable, file: string | null): TableRef {
  return { name: table.name, file, hash: tableHash(table), ...tableLabels(table) };
}

/** One line naming a table by its labels and hash (for logs and messages). */
export function describeTableRef(ref: TableRef): string {
  return `${ref.name} (${ref.device}, ${ref.runtime}${ref.version ? ` ${ref.version}` : ''}; hash ${ref.hash})`;
}

/**
 * The clause a resume's refusal gives when the table now given prices differently from the one a
 * run recorded ("was priced by ..., and FILE now has hash ..."), or null when the hashes agree or the
 * run recorded none.
 */
export function tableChange(recorded: TableRef | null | undefined, now: TableRef): string | null {
  if (!recorded || recorded.hash === now.hash) return null;
  return `was priced by ${describeTableRef(recorded)}, and ${now.file ?? now.name} now has hash ${now.hash}`;
}
