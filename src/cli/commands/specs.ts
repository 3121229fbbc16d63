import path from 'node:path';
import type { CommandModule } from 'yargs';
import { formatCount, formatMillions, textTable } from '../../common/format.js';
import { writeFileAtomic } from '../../common/json-io.js';
import { zooNames } from '../../search-space/zoo/index.js';
import { materialiseZoo, renderComparisonTable } from '../../search-space/zoo-report.js';
import { action, examples, givenCommand, printJson, specOverrideOptions } from '../common.js';

interface SpecsArgs {
  names?: string[];
  out: string;
  resolution?: number;
  classes?: number;
  json?: boolean;
  list?: boolean;
}

const EXAMPLES = examples([
  ['$0 specs', 'every zoo model into results/specs/, with TABLE.md'],
  ['$0 specs --list', 'only the names'],
  ['$0 specs mobilenetv3-small-1.0 --resolution 32 --classes 10 --out specs', 'one model, for 32x32 images and 10 classes'],
]);

export const specsCommand: CommandModule<object, SpecsArgs> = {
  command: 'specs [names..]',
  describe: 'Write the model zoo (MobileNetV3 family, MobileNetV2, MnasNet-A1) as ArchSpec JSON, with TABLE.md',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .positional('names', { type: 'string', array: true, defaultDescription: 'all', describe: 'zoo models to write' })
      .option('out', { type: 'string', default: 'results/specs', describe: 'output directory' })
      .options(specOverrideOptions)
      .option('json', {
        type: 'boolean',
        describe: 'print a JSON array of {name, params, madds, resolution, classes, file} (with --list: of the names)',
      })
      .option('list', { type: 'boolean', describe: 'only list the zoo names' }) as never,
  handler: action<SpecsArgs>(async (args, { log }) => {
    if (args.list) {
      if (args.json) printJson(zooNames());
      else process.stdout.write(`${zooNames().join('\n')}\n`);
      return;
    }
    const command = givenCommand();
    const rows = await materialiseZoo({ names: args.names, outDir: args.out, resolution: args.resolution, classes: args.classes, command });
    const tableFile = path.join(args.out, 'TABLE.md');
    await writeFileAtomic(tableFile, renderComparisonTable(rows));
    log.info({ specs: rows.length, dir: args.out, table: tableFile }, 'wrote specs');
    if (args.json) {
      printJson(rows);
    } else {
      const table = textTable(
        ['name', 'params', 'MAdds', 'input', 'file'],
        rows.map((r) => [
          r.name,
          formatCount(r.params),
          formatMillions(r.madds),
          `${r.resolution}x${r.resolution}, ${r.classes} cl.`,
          r.file,
        ]),
      );
      process.stdout.write(`${table}\n`);
    }
  }),
};
