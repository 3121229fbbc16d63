import type { CommandModule } from 'yargs';
import { textTable } from '../../common/format.js';
import type { LooStats, StoredEstimator } from '../../latency-model/predict/estimator-schema.js';
import { fitTableToFile } from '../../latency-model/predict/fit-table.js';
import { FORMAT_SPACES, IMPORT_FORMATS, type ImportFormat, importTableToFile } from '../../latency-model/predict/import.js';
import { describeTableRef, tableRef } from '../../latency-model/predict/table-ref.js';
import { action, examples, givenCommand, printJson } from '../common.js';

interface ImportArgs {
  file: string;
  format: ImportFormat;
  out?: string;
  device?: string;
  runtime?: string;
  runtimeVersion?: string;
  force?: boolean;
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
      .option('force', {
        type: 'boolean',
        describe: 'replace the table already at --out, and the estimator nas table fit stored in it (refused without it)',
      })
      .option('json', { type: 'boolean', describe: 'print the summary as one JSON line' }) as never,
  handler: action<ImportArgs>(async (args, { log }) => {
    const command = givenCommand();
    const labels = { device: args.device, runtime: args.runtime, runtimeVersion: args.runtimeVersion };
    const { out, table } = await importTableToFile({
      file: args.file,
      format: args.format,
      command,
      out: args.out,
      labels,
      force: args.force,
    });
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

interface FitArgs {
  table: string;
  out?: string;
  json?: boolean;
}

const FIT_EXAMPLES = examples([
  ['$0 table fit note10.json', "fit the latency estimator on an imported table's entries and store it, with its leave-one-out errors"],
  ['$0 table fit default', 'the embedded table with its estimator, written to ./default.json'],
]);

const percent = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
const looRow = (name: string, loo: LooStats | null, entries: number) => [
  name,
  String(entries),
  String(loo?.entries ?? 0),
  percent(loo?.within10 ?? null),
  percent(loo?.medianAbsError ?? null),
  percent(loo?.p90AbsError ?? null),
];

/** The estimator's leave-one-out errors, per op type and over the table. */
function looTable(estimator: StoredEstimator): string {
  const rows = Object.entries(estimator.models).map(([op, model]) => looRow(op, model.loo, model.entries + model.zeroEntries));
  rows.push(looRow('all', estimator.loo, estimator.fittedOn.entries));
  return textTable(['op type', 'entries', 'predicted', 'within +-10%', 'median |error|', 'p90 |error|'], rows);
}

const fitCommand: CommandModule<object, FitArgs> = {
  command: 'fit <table>',
  describe: "Fit the latency estimator (per op type) on a table's entries and write it, with its leave-one-out errors, into the table",
  builder: (y) =>
    y
      .example(FIT_EXAMPLES)
      .positional('table', { type: 'string', demandOption: true, describe: 'table file or name in tables/' })
      .option('out', { type: 'string', describe: 'default: over the table file itself (a table named from tables/: <name>.json here)' })
      .option('json', { type: 'boolean', describe: "print the estimator's fit quality as one JSON line" }) as never,
  handler: action<FitArgs>(async (args, { log }) => {
    const command = givenCommand();
    const { out, estimator } = await fitTableToFile({ table: args.table, command, out: args.out });
    const loo = estimator.loo;
    const summary = { table: out, entries: estimator.fittedOn.entries, loo, models: Object.keys(estimator.models) };
    log.info(summary, 'fitted');
    if (args.json) printJson({ ...summary, byOpType: Object.fromEntries(Object.entries(estimator.models).map(([op, m]) => [op, m.loo])) });
    else
      process.stdout.write(
        `${looTable(estimator)}\nwrote ${out}: the estimator of ${Object.keys(estimator.models).join(', ')} ops; leave-one-out: ${percent(loo?.within10 ?? null)} of ${loo?.entries ?? 0} predicted entries within +-10%${loo?.unpredictable ? `, ${loo.unpredictable} not predicted (the only entry of its op type)` : ''}\n`,
      );
  }),
};

export const tableCommand: CommandModule = {
  command: 'table <command>',
  describe: 'Latency table utilities (import, fit)',
  builder: (y) =>
    y
      .command(importCommand)
      .command(fitCommand)
      .example([...IMPORT_EXAMPLES, FIT_EXAMPLES[0]!])
      .demandCommand(1, 'choose a command') as never,
  handler: () => undefined,
};
