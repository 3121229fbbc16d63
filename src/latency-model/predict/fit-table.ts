/** `nas table fit`: a table with its latency estimator and the estimator's leave-one-out errors written into it. */
import path from 'node:path';
import { writeJsonAtomic } from '../../common/json-io.js';
import { fitEstimator } from './estimator.js';
import type { StoredEstimator } from './estimator-schema.js';
import { loadTable, tablePath } from './load-table.js';
import { type LatencyTable, parseLatencyTable } from './table-schema.js';

export interface FitTableRequest {
  /** A table file or name in tables/. */
  table: string;
  /** The command line, recorded in the estimator. */
  command: string;
  /**
   * Where to write the table with its estimator; default: over the table file itself, or for a
   * table named from tables/ (the embedded ones) `<name>.json` in the current directory, never
   * into the package.
   */
  out?: string | undefined;
}

/** Where `nas table fit` writes (see FitTableRequest.out), absolute. */
export function fitOutPath(request: Pick<FitTableRequest, 'table' | 'out'>): string {
  const named = tablePath(request.table) !== request.table;
  return path.resolve(request.out ?? (named ? `${request.table}.json` : request.table));
}

/** Fits the table's estimator and writes the table with it atomically; returns where (absolute) and the estimator. */
export async function fitTableToFile(request: FitTableRequest): Promise<{ out: string; table: LatencyTable; estimator: StoredEstimator }> {
  const source = loadTable(request.table);
  const estimator = fitEstimator(source, request.command);
  const out = fitOutPath(request);
  const table = parseLatencyTable({ ...source, estimator }, out);
  await writeJsonAtomic(out, table);
  return { out, table, estimator };
}
