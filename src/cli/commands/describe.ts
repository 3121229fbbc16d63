import type { CommandModule } from 'yargs';
import { describeSpec, renderDescription } from '../../search-space/describe.js';
import { compareStages, comparisonSummary, renderStageComparison } from '../../search-space/stage-compare.js';
import { action, examples, loadSpecArgument, printJson, specOverrideOptions } from '../common.js';

interface DescribeArgs {
  spec: string;
  layers?: boolean;
  compare?: string;
  json?: boolean;
  resolution?: number;
  classes?: number;
}

const EXAMPLES = examples([
  ['$0 describe mobilenetv3-large-1.0', 'the paper-style per-layer table of a zoo model'],
  ['$0 describe my-spec.json --layers --resolution 96', 'every layer inside the blocks too, at 96x96'],
  ['$0 describe runs/S/best.json --compare mobilenetv3-small-1.0', "a search's best beside MobileNetV3-Small, stage by stage"],
]);

export const describeCommand: CommandModule<object, DescribeArgs> = {
  command: 'describe <spec>',
  describe: 'Print the per-layer table of a spec (file or zoo name): shapes, operators, MAdds, params',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .positional('spec', { type: 'string', demandOption: true, describe: 'ArchSpec JSON, block-string document, or zoo model name' })
      .option('layers', { type: 'boolean', describe: 'also list the layers inside each block' })
      .option('compare', {
        type: 'string',
        describe:
          'instead, the spec beside this reference (file or zoo name), stage by stage: op, kernel, expansion, SE, activation, layers, width',
      })
      .option('json', { type: 'boolean', describe: 'print the table as JSON' })
      .options(specOverrideOptions) as never,
  handler: action<DescribeArgs>(async (args) => {
    if (args.compare !== undefined) {
      const comparison = compareStages(loadSpecArgument(args.spec, args), loadSpecArgument(args.compare, args));
      if (args.json) printJson({ ...comparison, summary: comparisonSummary(comparison) });
      else process.stdout.write(renderStageComparison(comparison));
      return;
    }
    const description = describeSpec(loadSpecArgument(args.spec, args));
    if (args.json) printJson(description);
    else process.stdout.write(renderDescription(description, { layers: args.layers }));
  }),
};
