/**
 * Training kernels the tfjs wasm backend lacks: Conv2DBackpropFilter,
 * DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput and UnsortedSegmentSum
 * (the gradient of gather), plus faster BatchMatMul / 1x1 Conv2DBackpropInput paths, and Slice /
 * SplitV / Unpack / row GatherV2 that read their input in place, a Concat that moves rows
 * within the heap, and a OneHot that honours float32 (the backend's copy the whole input to JS first, so taking
 * one row of a large tensor costs as much as copying all of it).
 *
 * They work in place on the wasm heap (no copies to JS and back): inputs are read through views
 * of the heap, outputs are allocated with `makeOutput` and written directly. The regular-conv
 * filter gradient is a matrix product (im2col when the kernel is not 1x1) done by the backend's own
 * BatchMatMul; the depthwise gradients are direct loops over NHWC data with the channel innermost.
 */
import { loadWasmBackend, tf } from './tf.js';

// The wasm package registers its kernels when loaded: it must happen before the overrides
// below capture and replace them (a later load would silently put its own kernels back).
loadWasmBackend();

type TensorInfo = tf.TensorInfo;
type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

type KernelFunc = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => TensorInfo | TensorInfo[];

function wasmKernel(name: string): KernelFunc {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`the wasm backend has no ${name} kernel`);
  return config.kernelFunc as KernelFunc;
}

function reshape(backend: WasmBackend, x: TensorInfo, shape: number[]): TensorInfo {
  return baseKernel('Reshape')({ inputs: { x }, backend, attrs: { shape } }) as TensorInfo;
}

/** The wasm backend's own kernels, captured before this module overrides any of them. */
const original = new Map<string, KernelFunc>();

function baseKernel(name: string): KernelFunc {
  return original.get(name) ?? wasmKernel(name);
}

function matMul(backend: WasmBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  return baseKernel('BatchMatMul')({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
}

/**
 * Swaps the last two axes. A blocked copy: the backend's Transpose is several times slower on
 * tall matrices such as [N*H*W, C] activations.
 */
function transposeLastTwo(backend: WasmBackend, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const rows = x.shape[rank - 2]!;
  const cols = x.shape[rank - 1]!;
  const batches = x.shape.slice(0, rank - 2).reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([...x.shape.slice(0, rank - 2), cols, rows], 'float32');
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(x);
  const TILE = 32;
  for (let b = 0; b < batches; b++) {
    const base = b * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c0 = 0; c0 < cols; c0 += TILE) {
        const c1 = Math.min(cols, c0 + TILE);
        for (let r = r0; r < r1; r++) {
          const s = base + r * cols;
          for (let c = c0; c < c1; c++) dst[base + c * rows + r] = src[s + c]!;
        }
      }
    }
  }
  return out;
}

/**
 * BatchMatMul with transposed operands: the backend's transposed paths are ~10x slower than its
 * plain one, so transpose explicitly and multiply plainly. Of the two equivalent forms
 * (A^T B = (B^T A)^T, A B^T = (B A^T)^T) the one that moves fewer elements is used: for a gradient
 * dX = dY W^T with a large W it transposes dY and the small result instead of W.
 */
function batchMatMul(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  if (!transposeA && !transposeB) return baseKernel('BatchMatMul')(args) as TensorInfo;
  const size = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);
  const outSize = (size(a) / a.shape[a.shape.length - (transposeA ? 2 : 1)]!) * b.shape[b.shape.length - (transposeB ? 2 : 1)]!;
  const direct = (transposeA ? size(a) : 0) + (transposeB ? size(b) : 0);
  const swapped = (transposeA ? 0 : size(a)) + (transposeB ? 0 : size(b)) + outSize;
  if (a.shape.length === 2 && b.shape.length === 2 && swapped < direct) {
    // op(A) op(B) = (op(B)^T op(A)^T)^T: pass the operands swapped with flipped transposes.
    const product = batchMatMul({ inputs: { a: b, b: a }, backend, attrs: { transposeA: !transposeB, transposeB: !transposeA } });
    const out = transposeLastTwo(backend, product);
    backend.disposeData(product.dataId);
    return out;
  }
  const a2 = transposeA ? transposeLastTwo(backend, a) : a;
  const b2 = transposeB ? transposeLastTwo(backend, b) : b;
  const out = matMul(backend, a2, b2);
  if (transposeA) backend.disposeData(a2.dataId);
  if (transposeB) backend.disposeData(b2.dataId);
  return out;
}

/** dW of a regular convolution: im2col(x)^T . dy, shaped [fh, fw, inC, outC]. */
function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode: Rounding;
    filterShape: [number, number, number, number];
  };
  if (attrs.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const cols = info.filterHeight * info.filterWidth * info.inChannels;
  const pointwise =
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0;

  // dW = patches^T . dy, with patches^T [fh*fw*inC, N*outH*outW] built directly.
  let patchesT: TensorInfo;
  if (pointwise) {
    const x2 = reshape(backend, x, [rows, cols]);
    patchesT = transposeLastTwo(backend, x2);
    backend.disposeData(x2.dataId);
  } else {
    patchesT = im2colTransposed(backend, x, info, rows, cols);
  }
  const dy2 = reshape(backend, dy, [rows, info.outChannels]);
  const out = matMul(backend, patchesT, dy2);
  backend.disposeData(patchesT.dataId);
  backend.disposeData(dy2.dataId);
  out.shape = [...attrs.filterShape];
  return out;
}

/** Patches of x as columns of a [fh*fw*inC, N*outH*outW] matrix; padding reads as zero. */
function im2colTransposed(backend: WasmBackend, x: TensorInfo, info: ConvInfo, rows: number, cols: number): TensorInfo {
  const out = backend.makeOutput([cols, rows], 'float32');
  // Views are taken after every allocation: growing the wasm memory detaches older views.
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(x);
  const {
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    filterHeight: FH,
    filterWidth: FW,
    strideHeight: SH,
    strideWidth: SW,
  } = info;
  const { top, left } = info.padInfo;
  for (let kh = 0; kh < FH; kh++) {
    for (let kw = 0; kw < FW; kw++) {
      for (let c = 0; c < C; c++) {
        let o = ((kh * FW + kw) * C + c) * rows;
        for (let n = 0; n < info.batchSize; n++) {
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * SH - top + kh;
            if (ih < 0 || ih >= H) {
              dst.fill(0, o, o + OW);
              o += OW;
              continue;
            }
            const rowBase = (n * H + ih) * W;
            for (let ow = 0; ow < OW; ow++, o++) {
              const iw = ow * SW - left + kw;
              dst[o] = iw < 0 || iw >= W ? 0 : src[(rowBase + iw) * C + c]!;
            }
          }
        }
      }
    }
  }
  return out;
}

/** dx of a 1x1, stride-1, unpadded convolution: dy . W^T; other shapes use the backend's kernel. */
function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode: Rounding;
    inputShape: [number, number, number, number];
  };
  const [fh, fw, inC, outC] = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, [fh, fw, inC, outC], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const pad = info.padInfo;
  const pointwise =
    fh === 1 && fw === 1 && info.strideHeight === 1 && info.strideWidth === 1 && pad.top + pad.bottom + pad.left + pad.right === 0;
  if (!pointwise || attrs.dataFormat === 'NCHW') return baseKernel('Conv2DBackpropInput')(args) as TensorInfo;
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const w2 = reshape(backend, filter, [inC, outC]);
  const wT = transposeLastTwo(backend, w2);
  const dy2 = reshape(backend, dy, [rows, outC]);
  const out = matMul(backend, dy2, wT);
  backend.disposeData(w2.dataId);
  backend.disposeData(wT.dataId);
  backend.disposeData(dy2.dataId);
  out.shape = [...attrs.inputShape];
  return out;
}

interface DepthwiseAttrs {
  strides: number | [number, number];
  dilations: number | [number, number];
  pad: Pad;
  dimRoundingMode: Rounding;
}

/** The geometry of a depthwise convolution of `inputShape` by `filterShape` (NHWC, filter [fh, fw, inC, multiplier]). */
function depthwiseInfo(inputShape: number[], filterShape: number[], attrs: DepthwiseAttrs): ConvInfo {
  type Shape4 = [number, number, number, number];
  const { strides, dilations, pad, dimRoundingMode } = attrs;
  return tf.backend_util.computeConv2DInfo(inputShape as Shape4, filterShape as Shape4, strides, dilations, pad, dimRoundingMode, true);
}

/** What both depthwise gradients walk: the tap table, and the sizes that turn its offsets into image n's. */
interface DepthwiseWalk {
  /** Flat (dy offset, x offset, filter offset) triples for image 0 (see depthwiseTaps). */
  taps: Int32Array;
  /** Input channels (C) and output channels per input channel (M). */
  channels: number;
  multiplier: number;
  /** Floats per image in dy and in x: image n's offsets are the table's plus n times these. */
  dyImage: number;
  xImage: number;
}

function depthwiseWalk(info: ConvInfo): DepthwiseWalk {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  return {
    taps: depthwiseTaps(info),
    channels: inChannels,
    multiplier: outChannels / inChannels,
    dyImage: outHeight * outWidth * outChannels,
    xImage: inHeight * inWidth * inChannels,
  };
}

/**
 * Every (output position, filter tap) pair of one image whose input position lies inside it, as
 * flat triples: the offset of that output's channels in dy, of the input's channels in x and of the
 * tap's channels in the filter. Both depthwise gradients walk these with their own channel loop: a
 * plain loop over a table keeps the hot loop free of calls (a callback per tap cost about 20% in
 * both kernels).
 */
function depthwiseTaps(info: ConvInfo): Int32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: OC, filterHeight: FH, filterWidth: FW } = info;
  const { strideHeight: SH, strideWidth: SW, dilationHeight: DH, dilationWidth: DW } = info;
  const { top, left } = info.padInfo;
  const taps = new Int32Array(OH * OW * FH * FW * 3);
  let length = 0;
  for (let oh = 0; oh < OH; oh++) {
    for (let ow = 0; ow < OW; ow++) {
      for (let kh = 0; kh < FH; kh++) {
        const ih = oh * SH - top + kh * DH;
        if (ih < 0 || ih >= H) continue;
        for (let kw = 0; kw < FW; kw++) {
          const iw = ow * SW - left + kw * DW;
          if (iw < 0 || iw >= W) continue;
          taps[length++] = (oh * OW + ow) * OC;
          taps[length++] = (ih * W + iw) * C;
          taps[length++] = (kh * FW + kw) * OC;
        }
      }
    }
  }
  return taps.subarray(0, length);
}

/** dW of a depthwise convolution, shaped [fh, fw, inC, multiplier]. */
function depthwiseBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { filterShape: [number, number, number, number] };
  const info = depthwiseInfo(x.shape, attrs.filterShape, attrs);
  const out = backend.makeOutput([...attrs.filterShape], 'float32');
  const xs = backend.typedArrayFromHeap(x);
  const dys = backend.typedArrayFromHeap(dy);
  const { taps, channels: C, multiplier: M, dyImage, xImage } = depthwiseWalk(info);
  const acc = new Float64Array(info.filterHeight * info.filterWidth * info.outChannels);
  for (let n = 0; n < info.batchSize; n++) {
    for (let t = 0; t < taps.length; t += 3) {
      const d = n * dyImage + taps[t]!;
      const s = n * xImage + taps[t + 1]!;
      const a = taps[t + 2]!;
      if (M === 1) {
        for (let c = 0; c < C; c++) acc[a + c]! += xs[s + c]! * dys[d + c]!;
      } else {
        for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) acc[a + c * M + m]! += xs[s + c]! * dys[d + c * M + m]!;
      }
    }
  }
  backend.typedArrayFromHeap(out).set(acc);
  return out;
}

/** dx of a depthwise convolution: each output gradient scattered back through the filter taps. */
function depthwiseBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { inputShape: [number, number, number, number] };
  const info = depthwiseInfo(attrs.inputShape, filter.shape, attrs);
  const out = backend.makeOutput([...attrs.inputShape], 'float32');
  const dx = backend.typedArrayFromHeap(out);
  const dys = backend.typedArrayFromHeap(dy);
  const ws = backend.typedArrayFromHeap(filter);
  dx.fill(0);
  const { taps, channels: C, multiplier: M, dyImage, xImage } = depthwiseWalk(info);
  for (let n = 0; n < info.batchSize; n++) {
    for (let t = 0; t < taps.length; t += 3) {
      const d = n * dyImage + taps[t]!;
      const s = n * xImage + taps[t + 1]!;
      const f = taps[t + 2]!;
      if (M === 1) {
        for (let c = 0; c < C; c++) dx[s + c]! += dys[d + c]! * ws[f + c]!;
      } else {
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let m = 0; m < M; m++) sum += dys[d + c * M + m]! * ws[f + c * M + m]!;
          dx[s + c]! += sum;
        }
      }
    }
  }
  return out;
}

/** out[segment[i], ...] += x[i, ...]: the gradient of gather (embedding lookups). */
function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = args.attrs as { numSegments: number };
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum on wasm supports float32, got ${x.dtype}`);
  const n = segmentIds.shape.reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(segmentIds.shape.length).reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], 'float32');
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds) as unknown as Int32Array;
  dst.fill(0);
  for (let i = 0; i < n; i++) {
    const segment = ids[i]!;
    if (segment < 0 || segment >= numSegments) continue;
    const o = segment * inner;
    const s = i * inner;
    for (let j = 0; j < inner; j++) dst[o + j]! += src[s + j]!;
  }
  return out;
}

/**
 * Copies `elements` elements (of `elementBytes` bytes) from one place of the wasm heap to another:
 * one memmove, where `dst.set(src.subarray(...))` would allocate a view per copy.
 */
class HeapCopier {
  private readonly heap: Uint8Array;
  constructor(
    private readonly src: Uint8Array | Float32Array | Int32Array,
    private readonly dst: Uint8Array | Float32Array | Int32Array,
  ) {
    this.heap = new Uint8Array(src.buffer);
  }
  copy(srcElement: number, dstElement: number, elements: number): void {
    const size = this.src.BYTES_PER_ELEMENT;
    const from = this.src.byteOffset + srcElement * size;
    this.heap.copyWithin(this.dst.byteOffset + dstElement * size, from, from + elements * size);
  }
}

/**
 * Copies the block `begin`..`begin + size` of x into a new tensor (of shape `outShape`, the same
 * number of elements), row by row within the heap.
 */
function sliceFromHeap(backend: WasmBackend, x: TensorInfo, begin: number[], size: number[], outShape = size): TensorInfo {
  const out = backend.makeOutput(outShape, x.dtype);
  const dst = backend.typedArrayFromHeap(out);
  const copier = new HeapCopier(backend.typedArrayFromHeap(x), dst);
  const rank = x.shape.length;
  if (rank === 0 || dst.length === 0) {
    copier.copy(0, 0, dst.length);
    return out;
  }
  const strides = tf.util.computeStrides(x.shape);
  const rowLength = size[rank - 1]!;
  const rows = dst.length / rowLength;
  const index = new Array<number>(rank - 1).fill(0);
  for (let row = 0; row < rows; row++) {
    let offset = begin[rank - 1]!;
    for (let axis = 0; axis < rank - 1; axis++) offset += (begin[axis]! + index[axis]!) * strides[axis]!;
    copier.copy(offset, row * rowLength, rowLength);
    for (let axis = rank - 2; axis >= 0; axis--) {
      if (++index[axis]! < size[axis]!) break;
      index[axis] = 0;
    }
  }
  return out;
}

function slice(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype === 'string') return baseKernel('Slice')(args) as TensorInfo;
  const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
  const [begin_, size_] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  return sliceFromHeap(args.backend as WasmBackend, x, begin_!, size_!);
}

function splitV(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo[] {
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype === 'string') return baseKernel('SplitV')(args) as TensorInfo[];
  const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
  const along = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, along);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[along] = s;
    const part = sliceFromHeap(args.backend as WasmBackend, x, begin, size);
    begin[along]! += s;
    return part;
  });
}

function unpack(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const { value } = args.inputs as { value: TensorInfo };
  if (value.dtype === 'string') return baseKernel('Unpack')(args) as TensorInfo[];
  const rank = value.shape.length;
  const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, value.shape)[0]!;
  const size = [...value.shape];
  size[axis] = 1;
  const outShape = value.shape.filter((_, i) => i !== axis);
  return Array.from({ length: value.shape[axis]! }, (_, i) => {
    const begin = new Array<number>(rank).fill(0);
    begin[axis] = i;
    return sliceFromHeap(backend, value, begin, size, outShape);
  });
}

/**
 * Row lookups (axis 0, the embedding case) copy whole rows from heap views; the backend's kernel
 * computes an index per element and is ~25x slower on [2048, 256] outputs. Other axes go to it.
 */
function gatherV2(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const along = tf.util.parseAxisParam(axis, x.shape)[0]!;
  if (along !== 0 || batchDims !== 0 || x.dtype === 'string' || x.shape.length === 0) return baseKernel('GatherV2')(args) as TensorInfo;
  const rows = x.shape[0]!;
  const rowLength = x.shape.slice(1).reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const copier = new HeapCopier(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out));
  const ids = backend.typedArrayFromHeap(indices);
  for (let i = 0; i < ids.length; i++) {
    const row = ids[i]!;
    if (!(row >= 0 && row < rows)) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${row} is not in [0, ${rows - 1}]`);
    }
    copier.copy(row * rowLength, i * rowLength, rowLength);
  }
  return out;
}

/** Concatenation of non-string tensors, row blocks moved within the heap. */
function concat(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const inputs = Object.values(args.inputs) as TensorInfo[];
  const parts = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
  if (parts.length < 2 || parts[0]!.dtype === 'string') return baseKernel('Concat')(args) as TensorInfo;
  const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, inputs[0]!.shape)[0]!;
  const outShape = tf.backend_util.computeOutShape(
    inputs.map((t) => t.shape),
    axis,
  );
  const out = backend.makeOutput(outShape, parts[0]!.dtype);
  const dst = backend.typedArrayFromHeap(out);
  const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
  const inners = parts.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
  const rowLength = inners.reduce((a, b) => a + b, 0);
  parts.forEach((part, p) => {
    const copier = new HeapCopier(backend.typedArrayFromHeap(part), dst);
    const inner = inners[p]!;
    const column = inners.slice(0, p).reduce((a, b) => a + b, 0);
    for (let row = 0; row < outer; row++) copier.copy(row * inner, row * rowLength + column, inner);
  });
  return out;
}

/**
 * The backend's OneHot writes int32 values whatever the dtype asked for, so a float32 one-hot
 * holds 1.4e-45 where it should hold 1: convert in place.
 */
function oneHot(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const out = baseKernel('OneHot')(args) as TensorInfo;
  if (out.dtype === 'float32') {
    const backend = args.backend as WasmBackend;
    const values = backend.typedArrayFromHeap(out);
    const ints = new Int32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) values[i] = ints[i]!;
  }
  return out;
}

const OURS: [string, KernelFunc][] = [];

/** Names of the project's kernels currently registered for wasm (all of them once registered). */
export function activeTrainingKernels(): string[] {
  return OURS.filter(([name, func]) => tf.getKernel(name, 'wasm')?.kernelFunc === func).map(([name]) => name);
}

let registered = false;

/** Registers the kernels for the wasm backend, replacing its slow ones (idempotent). */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  const kernels: [string, KernelFunc][] = [
    ['Conv2DBackpropFilter', conv2dBackpropFilter],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput],
    ['BatchMatMul', batchMatMul],
    ['Conv2DBackpropInput', conv2dBackpropInput],
    ['UnsortedSegmentSum', unsortedSegmentSum],
    ['Slice', slice],
    ['SplitV', splitV],
    ['Unpack', unpack],
    ['GatherV2', gatherV2],
    ['Concat', concat],
    ['OneHot', oneHot],
  ];
  OURS.push(...kernels);
  for (const [kernelName, kernelFunc] of kernels) {
    const existing = tf.getKernel(kernelName, 'wasm');
    if (existing) {
      original.set(kernelName, existing.kernelFunc as KernelFunc);
      tf.unregisterKernel(kernelName, 'wasm');
    }
    // The original's setup (binding its wasm function) must still run when the backend starts.
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: kernelFunc as tf.KernelFunc,
      setupFunc: existing?.setupFunc,
      disposeFunc: existing?.disposeFunc,
    });
  }
  registered = true;
}
