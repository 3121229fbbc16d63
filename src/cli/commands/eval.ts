import type { CommandModule } from 'yargs';
import { parseWith } from '../../common/validate.js';
import { type BackendName, prepareBackend } from '../../trainer/backend.js';
import { buildModel } from '../../trainer/build-model.js';
import { assignWeights, loadCheckpoint } from '../../trainer/checkpoint.js';
import { loadDataset } from '../../trainer/data/index.js';
import { batcherFor, evaluate, TrainerStateSchema } from '../../trainer/train.js';
import { action, examples, printJson } from '../common.js';
import { backendOption } from './train.js';

interface EvalArgs {
  checkpoint: string;
  dataset?: string;
  split: 'test' | 'validation' | 'train';
  backend: BackendName | 'auto';
  json?: boolean;
}

const EXAMPLES = examples([
  ['$0 eval --checkpoint runs/small05', 'test top-1 of a nas train run'],
  ['$0 eval --checkpoint runs/small05 --split validation --json', 'the validation split, as JSON'],
]);

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Evaluate a saved model (a run directory or its checkpoint) on a dataset split',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'run directory or checkpoint directory' })
      .option('dataset', { type: 'string', describe: 'default: the dataset the run trained on' })
      .option('split', { choices: ['test', 'validation', 'train'] as const, default: 'test' as const, describe: 'the split to score' })
      .options(backendOption)
      .option('json', { type: 'boolean', describe: 'print the result as one JSON line' }) as never,
  handler: action<EvalArgs>(async (args, { log }) => {
    const backend = await prepareBackend(args.backend);
    const ckpt = loadCheckpoint(args.checkpoint, (data, file) => parseWith(TrainerStateSchema, data, file));
    const dataset = loadDataset(args.dataset ?? ckpt.state.dataset, ckpt.spec.input.resolution);
    const model = buildModel(ckpt.spec);
    assignWeights(model, ckpt.weights, ckpt.dir);
    const batcher = batcherFor(ckpt.spec, dataset, args.split, { augment: false });
    const top1 = evaluate(model, batcher);
    const result = {
      top1,
      split: args.split,
      images: batcher.count,
      dataset: dataset.name,
      spec: ckpt.spec.name,
      backend: backend.backend,
      checkpoint: ckpt.dir,
    };
    log.debug(result, 'evaluated');
    if (args.json) printJson(result);
    else
      process.stdout.write(
        `${args.split} ${batcher.kind === 'segmentation' ? 'mean IoU' : 'top-1'} ${(100 * top1).toFixed(2)}% on ${batcher.count} images of ${dataset.name} (${ckpt.spec.name}, ${backend.backend})\n`,
      );
    model.dispose();
  }),
};
