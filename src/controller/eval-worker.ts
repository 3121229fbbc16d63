/** A worker process of the proxy-training evaluator: loads the dataset once, trains children on request. */
import { DivergedError } from '../common/errors.js';
import { prepareBackend } from '../trainer/backend.js';
import type { ImageDataset } from '../trainer/data/dataset.js';
import { loadDataset } from '../trainer/data/index.js';
import { train } from '../trainer/train.js';
import type { WorkerReply, WorkerRequest } from './evaluator.js';

let dataset: ImageDataset | null = null;
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
    const started = performance.now();
    try {
      const result = await train({ spec: request.spec, dataset: dataset!, config: request.config, evaluateTest: false });
      reply({ type: 'result', id: request.id, evaluation: { accuracy: result.valTop1, seconds: (performance.now() - started) / 1000, imagesPerSec: result.imagesPerSec, error: null } });
    } catch (err) {
      const message = err instanceof DivergedError ? `diverged: ${err.message}` : (err as Error).message;
      reply({ type: 'result', id: request.id, evaluation: { accuracy: 0, seconds: (performance.now() - started) / 1000, imagesPerSec: 0, error: message } });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
