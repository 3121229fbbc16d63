/** A worker process of the training pool: loads the dataset once, trains specs on request. */
import { prepareBackend } from './backend.js';
import { loadDataset, type TrainingData } from './data/index.js';
import { trainForEvaluation, type WorkerReply, type WorkerRequest } from './training-pool.js';

let dataset: TrainingData | null = null;
const reply = (message: WorkerReply) => process.send?.(message);

process.on('message', (request: WorkerRequest) => {
  void (async () => {
    if (request.type === 'init') {
      try {
        const backend = await prepareBackend(request.backend);
        dataset = loadDataset(request.dataset, request.resolution);
        reply({ type: 'ready', backend: backend.backend });
      } catch (err) {
        reply({ type: 'failed', message: (err as Error).message });
        process.exit(2);
      }
      return;
    }
    reply({ type: 'result', id: request.id, evaluation: await trainForEvaluation(dataset!, request.spec, request.config, request) });
  })();
});
process.on('disconnect', () => process.exit(0));
