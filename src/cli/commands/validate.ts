import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { InputError } from '../../common/errors.js';
import { otherKindError } from '../../common/file-kinds.js';
import { formatCount, formatMillions } from '../../common/format.js';
import type { Logger } from '../../common/log.js';
import { checkExperimentFile } from '../../controller/setup.js';
import { readLatencyTable } from '../../latency-model/predict/table-schema.js';
import { ChoiceSpace, readSearchSpace } from '../../search-space/choice-space.js';
import { specCost } from '../../search-space/cost.js';
import { action, examples, readSpecFile, reportError } from '../common.js';

interface ValidateArgs {
  files: string[];
  table?: string;
}

/** Validates a spec, block-string document or latency table by its kind; returns a summary. */
function describeValidFile(file: string, log: Logger, table: string | undefined): string {
  if (existsSync(file) && statSync(file).isDirectory())
    throw new InputError(`${file}: a directory; nas validate checks files: give them (e.g. ${path.join(file, '*.json')})`);
  const kind = jsonKind(file);
  if (kind === 'experiment') {
    const { experiment, setup } = checkExperimentFile(file, log, table);
    const pricedBy = table ? `, priced by ${setup.table.name}` : '';
    return `valid experiment "${experiment.name}" (space ${setup.space.name}, ${experiment.algorithm}, budget ${experiment.budget}${pricedBy})`;
  }
  if (kind === 'search-space') {
    const space = new ChoiceSpace(readSearchSpace(file));
    return `valid search space "${space.name}" (${space.choicePoints.length} choice points, 10^${space.log10Members.toFixed(1)} architectures)`;
  }
  if (kind === 'latency-table') {
    const table = readLatencyTable(file);
    return `valid latency table "${table.name}" (${Object.keys(table.entries).length} entries, ${table.device.name})`;
  }
  if (!existsSync(file)) throw new InputError(`${file}: no such file`);
  const other = otherKindError(
    { kind },
    file,
    ['archspec'],
    'a spec, latency table, experiment or search space, which nas validate checks',
  );
  if (other) throw other;
  const spec = readSpecFile(file);
  const cost = specCost(spec);
  return `valid archspec "${spec.name}" (${formatCount(cost.params)} params, ${formatMillions(cost.madds)} MAdds)`;
}

function jsonKind(file: string): unknown {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { kind?: unknown }).kind;
  } catch {
    return undefined; // not JSON: readSpecFile reports it
  }
}

const EXAMPLES = examples([
  ['$0 validate my-spec.json', 'a spec file (JSON or block strings)'],
  ['$0 validate experiments/default.json tables/default.json', 'an experiment and a latency table'],
  ['$0 validate experiments/ofa-note10.json --table note10.json', 'an experiment as nas search --table would run it'],
]);

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <files..>',
  describe:
    'Check specs, latency tables, experiments and search spaces; exit 2 with the file, the field and what was expected when one is invalid',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        // yargs gives a variadic positional an empty default, which its help would show.
        default: undefined,
        describe: 'the files to check',
      })
      .option('table', {
        type: 'string',
        describe: 'latency table file or name in tables/ to check experiments against, instead of their own (as nas search --table)',
      }) as never,
  handler: action<ValidateArgs>(async (args, { log }) => {
    let failed = 0;
    for (const file of args.files) {
      try {
        process.stdout.write(`${file}: ${describeValidFile(file, log, args.table)}\n`);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        reportError(err, Boolean(args.verbose));
        failed++;
      }
    }
    if (failed) process.exitCode = 2;
  }),
};
