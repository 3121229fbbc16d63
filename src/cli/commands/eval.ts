import type { CommandModule } from 'yargs';
import type { BackendName } from '../../trainer/backend-names.js';
import { action, examples, printJson } from '../common.js';
import { backendOption } from './train.js';

interface EvalArgs {
  checkpoint: string;
  dataset?: string;
  split: 'test' | 'validation' | 'train';
  samples?: number;
  backend: BackendName | 'auto';
  json?: boolean;
}

const EXAMPLES = examples([
  ['$0 eval --checkpoint runs/small05', 'test top-1 of a nas train run'],
  [
    '$0 eval --checkpoint runs/small05 --split validation --samples 1000 --json',
    'a quick look at the first 1,000 validation images, as JSON',
  ],
  ['$0 eval --checkpoint runs/S/best-weights', "a supernet search's find with its inherited weights"],
]);

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: "Evaluate a saved model (a run directory or its checkpoint, or a supernet search's best-weights) on a dataset split",
  builder: (y) =>
    y
      .example(EXAMPLES)
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'run directory or checkpoint directory' })
      .option('dataset', { type: 'string', describe: 'default: the dataset the run (or the supernet) trained on' })
      .option('split', { choices: ['test', 'validation', 'train'] as const, default: 'test' as const, describe: 'the split to score' })
      .option('samples', {
        type: 'number',
        describe: 'score the first N images of the split (a quick look, not comparable to a whole-split score)',
        defaultDescription: 'all',
      })
      .options(backendOption)
      .option('json', { type: 'boolean', describe: 'print the result as one JSON line' }) as never,
  handler: action<EvalArgs>(async (args, { log }) => {
    const { evaluateCheckpoint } = await import('../../trainer/evaluate-checkpoint.js');
    const result = await evaluateCheckpoint({
      checkpoint: args.checkpoint,
      dataset: args.dataset,
      split: args.split,
      samples: args.samples,
      backend: args.backend,
    });
    log.debug(result, 'evaluated');
    if (args.json) printJson(result);
    else
      process.stdout.write(
        `${result.split} ${result.metric} ${(100 * result.top1).toFixed(2)}% on ${result.partial ? 'the first ' : ''}${result.images} images of ${result.dataset} (${result.spec}${result.weights === 'inherited' ? ', inherited supernet weights' : ''}, ${result.backend})\n`,
      );
  }),
};
