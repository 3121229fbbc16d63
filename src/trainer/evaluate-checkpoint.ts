/** `nas eval`: a saved model scored on one split of a dataset. */
import { z } from 'zod';
import { InputError } from '../common/errors.js';
import { parseWith } from '../common/validate.js';
import { prepareBackend } from './backend.js';
import type { BackendName } from './backend-names.js';
import { buildModel } from './build-model.js';
import { assignWeights, InheritedWeightsStateSchema, loadCheckpoint } from './checkpoint.js';
import { loadDataset } from './data/index.js';
import { evaluate, scoringSplit, TrainerStateSchema } from './train.js';

/** What `nas eval` scores: a training run's checkpoint, or a supernet member's inherited weights (a search's best-weights/). */
const EvaluableStateSchema = z.discriminatedUnion('kind', [TrainerStateSchema, InheritedWeightsStateSchema]);

export interface CheckpointEvaluation {
  /** Top-1 (mean IoU for segmentation) on the split. */
  top1: number;
  metric: 'top-1' | 'mean IoU';
  split: 'test' | 'validation' | 'train';
  images: number;
  /** True when those were the first `samples` images only, fewer than the split holds. */
  partial: boolean;
  dataset: string;
  spec: string;
  backend: string;
  checkpoint: string;
  /** `trained`: a training run's weights; `inherited`: a supernet member's, as a search wrote them. */
  weights: 'trained' | 'inherited';
}

/** Scores the checkpoint of a run (or a checkpoint directory) on `split` of `dataset` (default: the one it trained on). */
export async function evaluateCheckpoint(request: {
  checkpoint: string;
  dataset?: string | undefined;
  split: CheckpointEvaluation['split'];
  /** Score the first N images of the split only (default: all). */
  samples?: number | undefined;
  backend: BackendName | 'auto';
}): Promise<CheckpointEvaluation> {
  const backend = await prepareBackend(request.backend);
  const ckpt = loadCheckpoint(request.checkpoint, (data, file) => parseWith(EvaluableStateSchema, data, file));
  const source = request.dataset ?? ckpt.state.dataset;
  if (source === undefined)
    throw new InputError(
      `${ckpt.dir}: these inherited weights do not name the dataset their supernet trained on (written before 2026-12-06): give --dataset (the search experiment's proxy.dataset)`,
    );
  const dataset = loadDataset(source, ckpt.spec.input.resolution);
  const model = buildModel(ckpt.spec);
  try {
    assignWeights(model, ckpt.weights, ckpt.dir);
    const { batcher, partial } = scoringSplit(ckpt.spec, dataset, request.split, request.samples, 'evaluate');
    return {
      top1: evaluate(model, batcher),
      metric: batcher.kind === 'segmentation' ? 'mean IoU' : 'top-1',
      split: request.split,
      images: batcher.count,
      partial,
      dataset: dataset.name,
      spec: ckpt.spec.name,
      backend: backend.backend,
      checkpoint: ckpt.dir,
      weights: ckpt.state.kind === 'inherited-weights' ? 'inherited' : 'trained',
    };
  } finally {
    model.dispose();
  }
}
