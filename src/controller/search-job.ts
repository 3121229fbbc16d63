/**
 * The `nas search` job: pick the backend, load the proxy dataset, check the experiment against its
 * space and table (setup.ts), then run the search with the experiment's evaluator (each child
 * trained in a pool of processes, or one weight-sharing supernet) into its run directory
 * (search-run.ts).
 */
import { type Logger, silentLogger } from '../common/log.js';
import { withRunLock } from '../common/run-lock.js';
import { runSupernetSearch, type SupernetProgress } from '../supernet/search.js';
import { prepareBackend } from '../trainer/backend.js';
import type { BackendName } from '../trainer/backend-names.js';
import { loadDataset } from '../trainer/data/index.js';
import { TrainingPool } from '../trainer/training-pool.js';
import { type Experiment, ignoredSettings } from './experiment.js';
import type { SearchSummary } from './report.js';
import { runSearch, type SearchProgress } from './search.js';
import { proxyTrainConfig, type SearchSetup, setupSearch } from './setup.js';

export interface SearchJobRequest {
  /** The experiment with any command-line overrides applied. */
  experiment: Experiment;
  /** The file the experiment was read from, when its fields are the file's: failures of its checks name it and the field. */
  experimentFile?: string | undefined;
  runDir: string;
  /** Continue the run in runDir. */
  resume?: boolean | undefined;
  backend: BackendName | 'auto';
  /** The command line, for the run record. */
  command: string;
  /** Called once the experiment is checked, before any training. */
  onSetup?: (setup: SearchSetup) => void;
  onProgress?: (p: SearchJobProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

/** Progress of the proxy evaluator's trials, or of the supernet's training and ranking. */
export type SearchJobProgress = ({ evaluator: 'proxy' } & SearchProgress) | ({ evaluator: 'supernet' } & SupernetProgress);

/** Runs (or continues) a search to its budget and returns its summary. */
export function runSearchJob(request: SearchJobRequest): Promise<SearchSummary> {
  return withRunLock(request.runDir, 'nas search', () => searchJob(request));
}

async function searchJob(request: SearchJobRequest): Promise<SearchSummary> {
  const { experiment } = request;
  await prepareBackend(request.backend);
  const dataset = loadDataset(experiment.proxy.dataset, experiment.proxy.resolution);
  const setup = setupSearch(experiment, dataset.classNames.length, request.experimentFile);
  for (const warning of ignoredSettings(experiment)) request.log?.warn(warning);
  request.onSetup?.(setup);
  return experiment.evaluator === 'supernet' ? supernetSearch(request, setup) : proxySearch(request, setup);
}

function searchRequest(request: SearchJobRequest) {
  const { experiment, runDir, command, signal } = request;
  return { experiment, runDir, resume: Boolean(request.resume), command, signal, log: request.log ?? silentLogger };
}

/** Each child trained on the proxy task in a pool of processes. */
async function proxySearch(request: SearchJobRequest, setup: SearchSetup): Promise<SearchSummary> {
  const { experiment } = request;
  const evaluator = new TrainingPool({
    dataset: experiment.proxy.dataset,
    resolution: experiment.proxy.resolution,
    config: proxyTrainConfig(experiment),
    parallel: experiment.parallel,
    backend: request.backend,
    log: request.log ?? silentLogger,
  });
  try {
    return await runSearch(
      { ...searchRequest(request), evaluator, onProgress: (p) => request.onProgress?.({ evaluator: 'proxy', ...p }) },
      setup,
    );
  } finally {
    await evaluator.close();
  }
}

/** The weight-sharing evaluator: one supernet trained with the controller, in this process. */
function supernetSearch(request: SearchJobRequest, setup: SearchSetup): Promise<SearchSummary> {
  return runSupernetSearch({ ...searchRequest(request), onProgress: (p) => request.onProgress?.({ evaluator: 'supernet', ...p }) }, setup);
}
