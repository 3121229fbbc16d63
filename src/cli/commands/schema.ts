import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../common/json-io.js';
import { archSpecJsonSchema } from '../../search-space/json-schema.js';
import { action, examples } from '../common.js';

interface SchemaArgs {
  out?: string;
}

const EXAMPLES = examples([
  ['$0 schema --out archspec.schema.json', 'for an editor that validates spec files as you type'],
  ['$0 schema > archspec.schema.json', 'the same, through stdout'],
]);

export const schemaCommand: CommandModule<object, SchemaArgs> = {
  command: 'schema',
  describe: 'Print (or write) the JSON Schema of ArchSpec files',
  builder: (y) => y.example(EXAMPLES).option('out', { type: 'string', describe: 'write to this file instead of stdout' }) as never,
  handler: action<SchemaArgs>(async (args) => {
    const text = `${JSON.stringify(archSpecJsonSchema(), null, 2)}\n`;
    if (args.out) await writeFileAtomic(args.out, text);
    else process.stdout.write(text);
  }),
};
