/**
 * Direct access to tensor memory for the per-step JS loops (optimizer, EMA): on the wasm backend a
 * view of its heap (no copy), elsewhere a copy. Building a new tensor writes straight into freshly
 * allocated backend memory on wasm.
 */
import { tf } from './tf.js';

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

function wasmBackend(): WasmHeapBackend | null {
  return tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmHeapBackend) : null;
}

/**
 * Creates a float32 tensor of `shape` whose values `fill` computes from views of `inputs`.
 * The views are only valid inside `fill`.
 */
export function computeTensor(
  shape: number[],
  inputs: readonly tf.Tensor[],
  fill: (out: Float32Array, inputs: Float32Array[]) => void,
): tf.Tensor {
  const wasm = wasmBackend();
  if (wasm) {
    const info = wasm.makeOutput(shape, 'float32');
    // Views after the allocation: growing the heap detaches earlier views.
    const views = inputs.map((t) => wasm.typedArrayFromHeap(t));
    fill(wasm.typedArrayFromHeap(info), views);
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fill(
    out,
    inputs.map((t) => t.dataSync() as Float32Array),
  );
  return tf.tensor(out, shape, 'float32');
}

/** Calls `read` with views (wasm) or copies of the tensors' values. */
export function readTensors<T>(inputs: readonly tf.Tensor[], read: (views: Float32Array[]) => T): T {
  const wasm = wasmBackend();
  return read(inputs.map((t) => (wasm ? wasm.typedArrayFromHeap(t) : (t.dataSync() as Float32Array))));
}
