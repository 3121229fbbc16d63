import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../common/json-io.js';
import { archSpecJsonSchema } from '../../search-space/json-schema.js';
import { action } from '../common.js';

interface SchemaArgs {
  out?: string;
}

export const schemaCommand: CommandModule<object, SchemaArgs> = {
  command: 'schema',
  describe: 'Print (or write) the JSON Schema of ArchSpec files',
  builder: (y) => y.option('out', { type: 'string', describe: 'write to this file instead of stdout' }) as never,
  handler: action<SchemaArgs>(async (args) => {
    const text = `${JSON.stringify(archSpecJsonSchema(), null, 2)}\n`;
    if (args.out) await writeFileAtomic(args.out, text);
    else process.stdout.write(text);
  }),
};
