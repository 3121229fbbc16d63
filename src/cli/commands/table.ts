import path from 'node:path';
import type { CommandModule } from 'yargs';
import { writeJsonAtomic } from '../../common/json-io.js';
import { IMPORT_FORMATS, type ImportFormat, importTable } from '../../latency-model/predict/import.js';
import { TABLES_DIR } from '../../latency-model/predict/load-table.js';
import { action, printJson } from '../common.js';

interface ImportArgs {
  file: string;
  format: ImportFormat;
  out?: string;
  json?: boolean;
}

const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import <file>',
  describe: 'Convert a Once-for-All or ProxylessNAS latency table (YAML) into a table',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true })
      .option('format', { choices: IMPORT_FORMATS, demandOption: true })
      .option('out', { type: 'string', describe: 'default: tables/<file name>.json' })
      .option('json', { type: 'boolean' }) as never,
  handler: action<ImportArgs>(async (args, { log }) => {
    const table = importTable(args.file, args.format, ['nas', ...process.argv.slice(2)].join(' '));
    const out = args.out ?? path.join(TABLES_DIR, `${table.name}.json`);
    await writeJsonAtomic(out, table);
    const summary = { table: out, entries: Object.keys(table.entries).length, resolutions: table.resolutions };
    log.info(summary, 'imported');
    if (args.json) printJson(summary);
    else process.stdout.write(`${out}: ${summary.entries} entries at ${table.resolutions.join(', ')}\n`);
  }),
};

export const tableCommand: CommandModule = {
  command: 'table <command>',
  describe: 'Latency table utilities (import)',
  builder: (y) => y.command(importCommand).demandCommand(1) as never,
  handler: () => undefined,
};
