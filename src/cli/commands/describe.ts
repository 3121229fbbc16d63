import type { CommandModule } from 'yargs';
import { describeSpec, renderDescription } from '../../search-space/describe.js';
import { action, examples, loadSpecArgument, printJson, specOverrideOptions } from '../common.js';

interface DescribeArgs {
  spec: string;
  layers?: boolean;
  json?: boolean;
  resolution?: number;
  classes?: number;
}

const EXAMPLES = examples([
  ['$0 describe mobilenetv3-large-1.0', 'the paper-style per-layer table of a zoo model'],
  ['$0 describe my-spec.json --layers', 'every layer inside the blocks too'],
  ['$0 describe mobilenetv3-small-1.0 --resolution 96 --json', 'at 96x96, as JSON'],
]);

export const describeCommand: CommandModule<object, DescribeArgs> = {
  command: 'describe <spec>',
  describe: 'Print the per-layer table of a spec (file or zoo name): shapes, operators, MAdds, params',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .positional('spec', { type: 'string', demandOption: true, describe: 'ArchSpec JSON, block-string document, or zoo model name' })
      .option('layers', { type: 'boolean', describe: 'also list the layers inside each block' })
      .option('json', { type: 'boolean', describe: 'print the table as JSON' })
      .options(specOverrideOptions) as never,
  handler: action<DescribeArgs>(async (args) => {
    const description = describeSpec(loadSpecArgument(args.spec, args));
    if (args.json) printJson(description);
    else process.stdout.write(renderDescription(description, { layers: args.layers }));
  }),
};
