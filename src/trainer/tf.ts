/**
 * TensorFlow.js, as every module of the project reaches it: `import { tf } from '.../trainer/tf.js'`,
 * then `tf.tidy(...)` and `tf.Tensor` as with `import * as tf from '@tensorflow/tfjs'`.
 *
 * Why not that import: tfjs ships CommonJS bundles, and Node loads a CommonJS module imported from
 * an ES module only after scanning its source, and the sources it re-exports, for export names
 * (about 5 MB for tfjs). Required instead, tfjs loads in 0.28 s instead of 0.48 s, and 0.35 fewer
 * CPU-seconds, in every process that trains, scores or times a model (each worker too).
 * The phone profiler page, bundled for the browser, gets ./tf-browser.ts in its place (serve.ts).
 */
import { createRequire } from 'node:module';
import type * as Tfjs from '@tensorflow/tfjs';

const require = createRequire(import.meta.url);

const tf = require('@tensorflow/tfjs') as typeof Tfjs;

/** The tfjs types the project names as `tf.X` (a name missing here is a compile error where it is used). */
declare namespace tf {
  export type Tensor<R extends Tfjs.Rank = Tfjs.Rank> = Tfjs.Tensor<R>;
  export type Scalar = Tfjs.Scalar;
  export type Tensor1D = Tfjs.Tensor1D;
  export type Tensor2D = Tfjs.Tensor2D;
  export type Tensor4D = Tfjs.Tensor4D;
  export type Variable<R extends Tfjs.Rank = Tfjs.Rank> = Tfjs.Variable<R>;
  export type DataType = Tfjs.DataType;
  export type Shape = Tfjs.Shape;
  export type TensorInfo = Tfjs.TensorInfo;
  export type NamedTensorMap = Tfjs.NamedTensorMap;
  export type NamedTensorInfoMap = Tfjs.NamedTensorInfoMap;
  export type NamedAttrMap = Tfjs.NamedAttrMap;
  export type KernelFunc = Tfjs.KernelFunc;
  export type GradSaveFunc = Tfjs.GradSaveFunc;
  export type LayersModel = Tfjs.LayersModel;
  export type LayerVariable = Tfjs.LayerVariable;
  export type SymbolicTensor = Tfjs.SymbolicTensor;
  export namespace layers {
    export type Layer = Tfjs.layers.Layer;
  }
  export namespace io {
    export type IOHandler = Tfjs.io.IOHandler;
    export type ModelArtifacts = Tfjs.io.ModelArtifacts;
    export type SaveResult = Tfjs.io.SaveResult;
    export type WeightsManifestEntry = Tfjs.io.WeightsManifestEntry;
  }
  export namespace serialization {
    export type ConfigDict = Tfjs.serialization.ConfigDict;
  }
  export namespace backend_util {
    export type ExplicitPadding = Tfjs.backend_util.ExplicitPadding;
  }
}

/** Registers tfjs' wasm backend and its kernels (the module's side effect), and returns the module. */
function loadWasmBackend(): typeof import('@tensorflow/tfjs-backend-wasm') {
  return require('@tensorflow/tfjs-backend-wasm');
}

export { loadWasmBackend, tf };
