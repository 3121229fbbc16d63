/** `nas eval`: a saved model scored on one split of a dataset. */
import { parseWith } from '../common/validate.js';
import { prepareBackend } from './backend.js';
import type { BackendName } from './backend-names.js';
import { buildModel } from './build-model.js';
import { assignWeights, loadCheckpoint } from './checkpoint.js';
import { loadDataset } from './data/index.js';
import { batcherFor, evaluate, TrainerStateSchema } from './train.js';

export interface CheckpointEvaluation {
  /** Top-1 (mean IoU for segmentation) on the split. */
  top1: number;
  metric: 'top-1' | 'mean IoU';
  split: 'test' | 'validation' | 'train';
  images: number;
  dataset: string;
  spec: string;
  backend: string;
  checkpoint: string;
}

/** Scores the checkpoint of a run (or a checkpoint directory) on `split` of `dataset` (default: the one it trained on). */
export async function evaluateCheckpoint(request: {
  checkpoint: string;
  dataset?: string;
  split: CheckpointEvaluation['split'];
  backend: BackendName | 'auto';
}): Promise<CheckpointEvaluation> {
  const backend = await prepareBackend(request.backend);
  const ckpt = loadCheckpoint(request.checkpoint, (data, file) => parseWith(TrainerStateSchema, data, file));
  const dataset = loadDataset(request.dataset ?? ckpt.state.dataset, ckpt.spec.input.resolution);
  const model = buildModel(ckpt.spec);
  try {
    assignWeights(model, ckpt.weights, ckpt.dir);
    const batcher = batcherFor(ckpt.spec, dataset, request.split, { augment: false });
    return {
      top1: evaluate(model, batcher),
      metric: batcher.kind === 'segmentation' ? 'mean IoU' : 'top-1',
      split: request.split,
      images: batcher.count,
      dataset: dataset.name,
      spec: ckpt.spec.name,
      backend: backend.backend,
      checkpoint: ckpt.dir,
    };
  } finally {
    model.dispose();
  }
}
