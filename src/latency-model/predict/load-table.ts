/** Where tables live: a path, or a name in the project's tables/ folder; `default` is embedded. */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { shellArg } from '../../common/command-line.js';
import { InputError } from '../../common/errors.js';
import { PROJECT_ROOT } from '../../common/version.js';
import { type LatencyTable, readLatencyTable } from './table-schema.js';

export const TABLES_DIR = path.join(PROJECT_ROOT, 'tables');
export const DEFAULT_TABLE = 'default';

/** Whether a table argument is a file rather than a name in tables/: it has a '/' or ends in .json, .yaml or .yml. */
export function isTableFile(nameOrFile: string): boolean {
  return nameOrFile.includes('/') || /\.(json|ya?ml)$/i.test(nameOrFile);
}

export function tablePath(nameOrFile: string = DEFAULT_TABLE): string {
  if (isTableFile(nameOrFile)) return nameOrFile;
  return path.join(TABLES_DIR, `${nameOrFile}.json`);
}

/** The names of the tables in tables/. */
function tableNames(): string[] {
  return existsSync(TABLES_DIR) ? readdirSync(TABLES_DIR).flatMap((f) => (f.endsWith('.json') ? [f.slice(0, -5)] : [])) : [];
}

export function loadTable(nameOrFile?: string): LatencyTable {
  const file = tablePath(nameOrFile);
  if (!existsSync(file)) {
    if (!nameOrFile)
      throw new InputError(
        `the embedded table ${file} is missing: regenerate it with the command in README.md (nas profile ... --out tables/default.json)`,
      );
    const names = isTableFile(nameOrFile) ? '' : `: give a table file or a name in tables/ (${tableNames().join(', ')})`;
    throw new InputError(`${file}: no such latency table${names}`);
  }
  if (/\.ya?ml$/i.test(file)) {
    throw new InputError(
      `${file}: a YAML table (Once-for-All's or ProxylessNAS's format), not this tool's JSON: import it first with nas table import --format ofa|proxyless ${shellArg(file)}, then pass the JSON file it writes`,
    );
  }
  return readLatencyTable(file);
}
