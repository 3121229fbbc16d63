import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../common/json-io.js';
import { BLOCK_STRING_FORMATS, type BlockStringFormat, exportBlockStrings } from '../../search-space/block-strings.js';
import { action, examples, loadSpecArgument } from '../common.js';

interface ConvertArgs {
  input: string;
  to: 'json' | BlockStringFormat;
  out?: string;
}

const EXAMPLES = examples([
  ['$0 convert mobilenetv3-large-1.0 --to timm', "timm's arch_def block strings of a zoo model"],
  ['$0 convert arch_def.txt --to json --out my-spec.json', 'block strings back to an ArchSpec file'],
  ['$0 convert my-spec.json --to mnasnet', 'MnasNet reference block strings'],
]);

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <input>',
  describe: 'Convert between ArchSpec JSON and block strings (timm arch_def, MnasNet); the format of <input> is detected',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .positional('input', { type: 'string', demandOption: true, describe: 'ArchSpec JSON, block-string document, or zoo model name' })
      .option('to', { choices: ['json', ...BLOCK_STRING_FORMATS] as const, demandOption: true, describe: 'output format' })
      .option('out', { type: 'string', describe: 'output file (default: stdout)' }) as never,
  handler: action<ConvertArgs>(async (args, { log }) => {
    const spec = loadSpecArgument(args.input);
    const text = args.to === 'json' ? `${JSON.stringify(spec, null, 2)}\n` : exportBlockStrings(spec, args.to);
    if (args.out) {
      await writeFileAtomic(args.out, text);
      log.info({ file: args.out, format: args.to }, 'converted');
    } else {
      process.stdout.write(text);
    }
  }),
};
