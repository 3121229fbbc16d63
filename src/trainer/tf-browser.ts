/**
 * ./tf.ts for the phone profiler page's browser bundle (serve.ts puts it in tf.ts's place): the ES
 * module imports a bundler resolves, with no Node module loader to avoid.
 */
import * as tfjs from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';

export const tf = tfjs;

export function loadWasmBackend(): typeof wasm {
  return wasm;
}
