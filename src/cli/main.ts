/** The `nas` command line: parse, call one library function, print. */
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TOOL_VERSION } from '../common/version.js';
import { convertCommand } from './commands/convert.js';
import { describeCommand } from './commands/describe.js';
import { evalCommand } from './commands/eval.js';
import { latencyCommand } from './commands/latency.js';
import { netadaptCommand } from './commands/netadapt.js';
import { pipelineCommand } from './commands/pipeline.js';
import { profileCommand } from './commands/profile.js';
import { schemaCommand } from './commands/schema.js';
import { searchCommand } from './commands/search.js';
import { spaceCommand } from './commands/space.js';
import { specsCommand } from './commands/specs.js';
import { tableCommand } from './commands/table.js';
import { trainCommand } from './commands/train.js';
import { validateCommand } from './commands/validate.js';
import { examples } from './common.js';
import { asTheUserRunsIt } from './invocation.js';
import { exclusiveFlags, type OptionTypes, usageErrorLine, valueProblem } from './usage-errors.js';

// yargs' ES module build wraps help at a fixed column, mid-word (yargs/yargs#2112, fixed in yargs
// 18); its CommonJS build wraps between words (cliui with wrap-ansi).
const yargs = createRequire(import.meta.url)('yargs/yargs') as (args: string[]) => Argv;

/** What a usage error needs to know of where it happened (yargs methods its typings leave out). */
interface YargsInternals {
  getOptions(): OptionTypes & { key: Record<string, boolean>; array: string[] };
  getInternalMethods(): {
    getContext(): { commands: string[] };
    getCommandInstance(): { getCommands(): string[] };
    getUsageInstance(): { getUsage(): [string, string][] };
  };
}

const EXAMPLES = examples([
  ['$0 search', "the embedded default search: a weight-sharing supernet over MobileNetV3-Small's skeleton, on Fashion-MNIST"],
  ['$0 train --arch mobilenetv3-small-0.5 --epochs 15 --out runs/small05', 'train a zoo model on Fashion-MNIST at 32x32'],
  ['$0 latency --arch mobilenetv3-large-1.0 --breakdown', 'predicted latency on the embedded table, op by op'],
]);

export async function main(argv: string[]): Promise<void> {
  const parser = yargs(argv);
  await parser
    .scriptName('nas')
    .locale('en')
    .usage('$0 <command> [options]\n\nPlatform-aware neural architecture search (MnasNet search + NetAdapt, MobileNetV3).')
    .example(EXAMPLES)
    .option('verbose', { type: 'boolean', describe: 'debug logs and stack traces' })
    .option('quiet', { type: 'boolean', describe: 'only warnings and errors on stderr' })
    .check(exclusiveFlags('quiet', 'verbose'))
    .command(searchCommand)
    .command(specsCommand)
    .command(describeCommand)
    .command(validateCommand)
    .command(convertCommand)
    .command(trainCommand)
    .command(evalCommand)
    .command(netadaptCommand)
    .command(pipelineCommand)
    .command(latencyCommand)
    .command(profileCommand)
    .command(tableCommand)
    .command(spaceCommand)
    .command(schemaCommand)
    .demandCommand(1, 'choose a command')
    .strict()
    .version(TOOL_VERSION)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .middleware((parsed) => keepLastOfRepeated(parsed, (parser as unknown as YargsInternals).getOptions().array), true)
    .check((parsed) => valueProblem(argv, parsed, (parser as unknown as YargsInternals).getOptions()) ?? true)
    .fail((message, err: Error | string | undefined) => {
      if (err instanceof Error && err.name !== 'YError') throw err;
      process.stderr.write(`nas: ${asTheUserRunsIt(usageErrorLine(message ?? String(err), argv, usageContext(parser)))}\n`);
      process.exit(2);
    })
    .parseAsync();
}

/**
 * An option given twice (`--seed 1 --seed 2`) takes its last value, as in most command lines;
 * yargs would pass both as an array to code that expects one value. Options that take a list
 * (`nas profile --arch a --arch b`) keep every value.
 */
function keepLastOfRepeated(parsed: Record<string, unknown>, listOptions: readonly string[]): void {
  const lists = new Set(listOptions);
  for (const [key, value] of Object.entries(parsed))
    if (key !== '_' && Array.isArray(value) && !lists.has(key)) parsed[key] = value[value.length - 1];
}

/** The command a usage error happened in, with its subcommands and options. */
function usageContext(parser: Argv): Parameters<typeof usageErrorLine>[2] {
  const state = parser as unknown as YargsInternals;
  const internals = state.getInternalMethods();
  const options = state.getOptions();
  return {
    command: internals.getContext().commands,
    subcommands: internals.getCommandInstance().getCommands(),
    options: Object.keys(options.key),
    valueOptions: [...options.string, ...options.number, ...Object.keys(options.choices)],
    types: options,
    usage: internals.getUsageInstance().getUsage()[0]?.[0] ?? '',
  };
}

await main(hideBin(process.argv));
