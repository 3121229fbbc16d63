/**
 * TensorFlow.js backend selection: tensorflow (tfjs-node, when it loads) > wasm > cpu.
 * The chosen backend and its thread count are returned so every output can record them.
 */
import { InputError } from '../common/errors.js';
import { BACKENDS, type BackendName } from './backend-names.js';
import { loadWasmBackend, tf } from './tf.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

export interface BackendInfo {
  backend: BackendName;
  threads: number;
  tfjsVersion: string;
}

let active: BackendInfo | null = null;

// A variable, so TypeScript does not require the optional package to be installed.
const TFJS_NODE = '@tensorflow/tfjs-node';

async function activate(name: BackendName): Promise<string | null> {
  try {
    if (name === 'tensorflow') await import(TFJS_NODE);
    if (name === 'wasm') loadWasmBackend();
    if (!(await tf.setBackend(name))) return 'it failed to initialise';
    await tf.ready();
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
      return `${name === 'tensorflow' ? TFJS_NODE : name} is not installed`;
    return (err as Error).message;
  }
}

/**
 * Activates `preferred`, or the best available backend when `preferred` is `auto`/undefined.
 * Throws an InputError when an explicitly requested backend cannot be used.
 */
export async function selectBackend(preferred: BackendName | 'auto' = 'auto'): Promise<BackendInfo> {
  const candidates = preferred === 'auto' ? BACKENDS : [preferred];
  const failures: string[] = [];
  for (const name of candidates) {
    if (tf.getBackend() === name) return info(name);
    const failure = await activate(name);
    if (failure === null) return info(name);
    failures.push(`${name}: ${failure}`);
  }
  const hint = preferred === 'tensorflow' ? ' (tfjs-node cannot install on machines without internet access: use --backend wasm)' : '';
  throw new InputError(`backend ${preferred} unavailable: ${failures.join('; ')}${hint}`);
}

async function info(backend: BackendName): Promise<BackendInfo> {
  let threads = 1;
  if (backend === 'wasm') {
    threads = loadWasmBackend().getThreadsCount();
  }
  active = { backend, threads, tfjsVersion: tf.version.tfjs };
  return active;
}

/**
 * Selects the backend for training and evaluation: registers the wasm training kernels and turns
 * on tfjs' production mode (no debug checks or console banners).
 */
export async function prepareBackend(preferred: BackendName | 'auto' = 'auto'): Promise<BackendInfo> {
  registerWasmTrainingKernels();
  tf.enableProdMode();
  return selectBackend(preferred);
}

/** The active backend and its thread count (as recorded in outputs). */
export function currentBackend(): { backend: string; threads: number } {
  return active?.backend === tf.getBackend() ? active : { backend: tf.getBackend(), threads: 1 };
}
