import type { CommandModule } from 'yargs';
import { InputError } from '../../common/errors.js';
import { formatCount, formatMillions } from '../../common/format.js';
import { specCost } from '../../search-space/cost.js';
import { action, readSpecFile, reportError } from '../common.js';

interface ValidateArgs {
  files: string[];
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <files..>',
  describe: 'Check spec files; exit 2 with the file, the field and what was expected when one is invalid',
  builder: (y) => y.positional('files', { type: 'string', array: true, demandOption: true }) as never,
  handler: action<ValidateArgs>(async (args) => {
    let failed = 0;
    for (const file of args.files) {
      try {
        const spec = readSpecFile(file);
        const cost = specCost(spec);
        process.stdout.write(`${file}: valid archspec "${spec.name}" (${formatCount(cost.params)} params, ${formatMillions(cost.madds)} MAdds)\n`);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        reportError(err, Boolean(args.verbose));
        failed++;
      }
    }
    if (failed) process.exitCode = 2;
  }),
};
