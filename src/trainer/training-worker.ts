/**
 * A worker process of the training pool: loads the dataset once, trains specs on request. It ends
 * with its parent, quietly: on the IPC channel's 'disconnect' while its event loop runs, and from a
 * watch thread while the loop is blocked in synchronous work; a reply that finds the channel
 * closed ends it too, instead of an uncaught `write EPIPE`.
 */
import { exitWithParent } from '../common/parent-watch.js';
import { prepareBackend } from './backend.js';
import { loadDataset, type TrainingData } from './data/index.js';
import { trainForEvaluation, type WorkerReply, type WorkerRequest } from './training-pool.js';

let dataset: TrainingData | null = null;
const parentGone = () => process.exit(0);
const reply = (message: WorkerReply) => {
  if (!process.connected) return parentGone();
  process.send!(message, undefined, undefined, (err: Error | null) => {
    if (err) parentGone();
  });
};

exitWithParent();
process.on('disconnect', parentGone);
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
