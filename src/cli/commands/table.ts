import type { CommandModule } from 'yargs';
import { FORMAT_SPACES, IMPORT_FORMATS, type ImportFormat, importTableToFile } from '../../latency-model/predict/import.js';
import { describeTableRef, tableRef } from '../../latency-model/predict/table-ref.js';
import { action, examples, printJson } from '../common.js';

interface ImportArgs {
  file: string;
  format: ImportFormat;
  out?: string;
  device?: string;
  runtime?: string;
  runtimeVersion?: string;
  json?: boolean;
}

const IMPORT_EXAMPLES = examples([
  ['$0 table import --format ofa ofa-note10-224.yaml --out tables/note10.json', "a Once-for-All phone's table"],
  ['$0 table import --format proxyless proxyless-mobile.yaml --out tables/proxyless.json', 'a ProxylessNAS table'],
]);

const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import <file>',
  describe: 'Convert a Once-for-All or ProxylessNAS latency table (YAML) into a table',
  builder: (y) =>
    y
      .example(IMPORT_EXAMPLES)
      .positional('file', { type: 'string', demandOption: true, describe: 'the YAML latency table' })
      .option('format', { choices: IMPORT_FORMATS, demandOption: true, describe: 'which project the table comes from' })
      .option('out', { type: 'string', describe: 'default: <file name>.json in the current directory' })
      .option('device', {
        type: 'string',
        describe: 'the device it was measured on',
        defaultDescription: "from the file's name (ofa-note10-*: Samsung Galaxy Note10), else mobile phone",
      })
      .option('runtime', { type: 'string', describe: 'the runtime it was measured with', defaultDescription: 'tflite' })
      .option('runtime-version', { type: 'string', describe: "the runtime's version", defaultDescription: 'unknown' })
      .option('json', { type: 'boolean', describe: 'print the summary as one JSON line' }) as never,
  handler: action<ImportArgs>(async (args, { log }) => {
    const command = ['nas', ...process.argv.slice(2)].join(' ');
    const labels = { device: args.device, runtime: args.runtime, runtimeVersion: args.runtimeVersion };
    const { out, table } = await importTableToFile({ file: args.file, format: args.format, command, out: args.out, labels });
    const ref = tableRef(table, out);
    const summary = { table: out, entries: Object.keys(table.entries).length, resolutions: table.resolutions, ...ref };
    log.info(summary, 'imported');
    if (args.json) printJson(summary);
    else
      process.stdout.write(
        `wrote ${out}: ${summary.entries} entries at ${table.resolutions.join(', ')} px, ${describeTableRef(ref)}, for space ${FORMAT_SPACES[args.format]} (use it with --table ${out})\n`,
      );
  }),
};

export const tableCommand: CommandModule = {
  command: 'table <command>',
  describe: 'Latency table utilities (import)',
  builder: (y) => y.command(importCommand).example(IMPORT_EXAMPLES).demandCommand(1, 'choose a command') as never,
  handler: () => undefined,
};
