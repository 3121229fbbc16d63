/** The JSON Schema of ArchSpec files, generated from the zod definitions (shipped as schema/archspec.schema.json). */
import { z } from 'zod';
import { ArchSpecSchema } from './archspec.js';

export function archSpecJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ArchSpecSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'ArchSpec',
    description:
      'Architecture spec of an image classifier (version 1). Cross-field rules not expressible here: ids are unique and ' +
      '"classifier" is reserved; a residual block has stride 1 and equal input/output widths.',
    ...schema,
  };
}
