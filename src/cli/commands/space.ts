import type { CommandModule } from 'yargs';
import { textTable } from '../../common/format.js';
import { choiceSpaceNames, getChoiceSpace } from '../../search-space/spaces.js';
import { action, examples, printJson } from '../common.js';

interface DescribeArgs {
  name: string;
  json?: boolean;
}

const DESCRIBE_EXAMPLES = examples([
  ['$0 space describe mobilenetv3', 'the choice points of the MobileNetV3 space'],
  ['$0 space describe experiments/spaces/mnasnet.json --json', 'a space file, as JSON'],
]);

const describeCommand: CommandModule<object, DescribeArgs> = {
  command: 'describe <name>',
  describe: 'Print the choice points of a search space and its size',
  builder: (y) =>
    y
      .example(DESCRIBE_EXAMPLES)
      .positional('name', { type: 'string', demandOption: true, describe: `${choiceSpaceNames().join(', ')} or a search-space file` })
      .option('json', { type: 'boolean', describe: 'print the choice points as one JSON line' }) as never,
  handler: action<DescribeArgs>(async (args) => {
    const space = getChoiceSpace(args.name);
    const points = space.choicePoints.map((c) => ({ path: c.path, options: c.options }));
    if (args.json) {
      printJson({
        name: space.name,
        description: space.description,
        choicePoints: points,
        log10Size: space.log10Size,
        log10Members: space.log10Members,
      });
      return;
    }
    process.stdout.write(`${space.name}: ${space.description}\n\n`);
    process.stdout.write(
      `${textTable(
        ['choice point', 'options'],
        points.map((p) => [p.path, p.options.map((o) => JSON.stringify(o)).join(' | ')]),
      )}\n\n`,
    );
    process.stdout.write(
      `${points.length} choice points, ${space.log10Size.toFixed(2)} = log10 of the number of choice vectors, ${space.log10Members.toFixed(2)} of distinct members (layers a member lacks carry no choice)\n`,
    );
  }),
};

export const spaceCommand: CommandModule = {
  command: 'space <command>',
  describe: 'Search spaces (describe)',
  builder: (y) => y.command(describeCommand).example(DESCRIBE_EXAMPLES).demandCommand(1, 'choose a command') as never,
  handler: () => undefined,
};
