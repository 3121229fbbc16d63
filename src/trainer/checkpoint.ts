/**
 * Checkpoints: a directory with the model in TFJS LayersModel format (model.json + weights.bin,
 * loadable with `tf.loadLayersModel` in a browser once the project's layers are registered), the
 * spec, the trainer state (JSON) and the optimizer/EMA slots (binary float32).
 *
 * Saving writes a fresh sibling directory and swaps it in with renames, so a crash leaves the
 * previous checkpoint or the new one, never a mixture.
 */

import { existsSync, promises as fs, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, NasError } from '../common/errors.js';
import { describeFsError, parseJsonText, writeFileAtomic, writeJsonAtomic } from '../common/json-io.js';
import { TOOL_NAME } from '../common/version.js';
import { type ArchSpec, parseArchSpec } from '../search-space/archspec.js';
import { tf } from './tf.js';

export const CHECKPOINT_DIR = 'checkpoint';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
export const SPEC_JSON = 'spec.json';
const STATE_JSON = 'state.json';
const SLOTS_BIN = 'slots.bin';

export interface NamedWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface CheckpointContents<State> {
  spec: ArchSpec;
  state: State;
  weights: NamedWeight[];
  /** Extra float32 arrays (optimizer slots, EMA), in the order they were saved. */
  slots: Float32Array[];
}

/**
 * The `state.json` of a supernet member's inherited weights (a supernet search's `best-weights/`):
 * nothing to resume, only the dataset the supernet trained on (absent before 2026-12-06) and the
 * member's validation top-1 as the ranking measured it.
 */
export const InheritedWeightsStateSchema = z.object({
  kind: z.literal('inherited-weights'),
  tool: z.string(),
  dataset: z.string().optional(),
  validationTop1: z.number().nullable().optional(),
});
export type InheritedWeightsState = z.infer<typeof InheritedWeightsStateSchema>;

/** The checkpoint directory inside a run directory, or the directory itself if it is one. */
export function resolveCheckpointDir(dir: string): string {
  const found = checkpointIn(dir);
  if (found) return found;
  // A supernet search run holds no checkpoint of its own, but the inherited weights of its find (best-weights/).
  const inside = existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir).map((name) => path.join(dir, name)) : [];
  const holder = inside.find((sub) => checkpointIn(sub));
  throw new InputError(
    `${dir}: no checkpoint here (expected ${MODEL_JSON} in it or in ${path.join(dir, CHECKPOINT_DIR)})${holder ? `; ${holder} holds one: give that` : ''}`,
  );
}

function checkpointIn(dir: string): string | null {
  if (existsSync(path.join(dir, MODEL_JSON))) return dir;
  for (const candidate of [CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`]) {
    const inner = path.join(dir, candidate);
    if (existsSync(path.join(inner, MODEL_JSON))) return inner;
  }
  return null;
}

/** Writes model.json + weights.bin exactly as tfjs' own file handlers would. */
function fileSaveHandler(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      const weightData = artifacts.weightData;
      const buffer =
        weightData === undefined ? new ArrayBuffer(0) : Array.isArray(weightData) ? tf.io.concatenateArrayBuffers(weightData) : weightData;
      const modelJson = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: TOOL_NAME,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      };
      await fs.writeFile(path.join(dir, WEIGHTS_BIN), new Uint8Array(buffer));
      await fs.writeFile(path.join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: buffer.byteLength } };
    },
  };
}

export async function saveCheckpoint<State>(
  runDir: string,
  model: tf.LayersModel,
  spec: ArchSpec,
  state: State,
  slots: readonly Float32Array[] = [],
): Promise<string> {
  const target = path.join(runDir, CHECKPOINT_DIR);
  const fresh = path.join(runDir, `.${CHECKPOINT_DIR}.${process.pid}.tmp`);
  const old = path.join(runDir, `${CHECKPOINT_DIR}.old`);
  try {
    await fs.rm(fresh, { recursive: true, force: true });
    await fs.mkdir(fresh, { recursive: true });
    await model.save(fileSaveHandler(fresh));
    await writeJsonAtomic(path.join(fresh, SPEC_JSON), spec);
    await writeJsonAtomic(path.join(fresh, STATE_JSON), state);
    await writeFileAtomic(path.join(fresh, SLOTS_BIN), encodeSlots(slots));
    await fs.rm(old, { recursive: true, force: true });
    if (existsSync(target)) await fs.rename(target, old);
    await fs.rename(fresh, target);
    await fs.rm(old, { recursive: true, force: true });
  } catch (err) {
    await fs.rm(fresh, { recursive: true, force: true }).catch(() => undefined);
    throw new NasError(`cannot write the checkpoint in ${runDir} (${describeFsError(err)}); the previous checkpoint is kept`, {
      cause: err,
    });
  }
  return target;
}

/** Slots file: uint32 count, then per array uint32 length and the float32 values. */
function encodeSlots(slots: readonly Float32Array[]): Uint8Array {
  const bytes = 4 + slots.reduce((n, s) => n + 4 + 4 * s.length, 0);
  const buffer = new ArrayBuffer(bytes);
  const view = new DataView(buffer);
  view.setUint32(0, slots.length, true);
  let offset = 4;
  for (const s of slots) {
    view.setUint32(offset, s.length, true);
    new Float32Array(buffer, offset + 4, s.length).set(s);
    offset += 4 + 4 * s.length;
  }
  return new Uint8Array(buffer);
}

function decodeSlots(bytes: Uint8Array, file: string): Float32Array[] {
  // A copy with its own ArrayBuffer: a small Buffer from readFileSync is a view into a shared pool.
  const copy = new Uint8Array(bytes).buffer;
  const view = new DataView(copy);
  const fail = () => new InputError(`${file}: corrupt slots file`);
  if (copy.byteLength < 4) throw fail();
  const count = view.getUint32(0, true);
  const slots: Float32Array[] = [];
  let offset = 4;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > copy.byteLength) throw fail();
    const length = view.getUint32(offset, true);
    if (offset + 4 + 4 * length > copy.byteLength) throw fail();
    slots.push(new Float32Array(copy, offset + 4, length));
    offset += 4 + 4 * length;
  }
  return slots;
}

function readFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InputError(`${file}: cannot read (${describeFsError(err)})`);
  }
}

/** The spec a checkpoint was trained from (`dir`: the checkpoint or a run directory holding one), validated. */
export function readCheckpointSpec(dir: string): { dir: string; spec: ArchSpec } {
  const ckpt = resolveCheckpointDir(dir);
  const specFile = path.join(ckpt, SPEC_JSON);
  return { dir: ckpt, spec: parseArchSpec(parseJsonText(readFile(specFile).toString('utf8'), specFile), specFile) };
}

/**
 * The dataset a checkpoint was trained on, as its training recorded it (a source `loadDataset`
 * reads); null for checkpoints that do not record one (inherited weights a supernet run wrote before
 * 2026-12-06).
 */
export function readCheckpointDataset(dir: string): string | null {
  const stateFile = path.join(resolveCheckpointDir(dir), STATE_JSON);
  const state = parseJsonText(readFile(stateFile).toString('utf8'), stateFile) as { dataset?: unknown };
  return typeof state.dataset === 'string' ? state.dataset : null;
}

/** A checkpoint's spec and state (`parseState` validates it), without reading its weights. */
export function readCheckpointHead<State>(
  dir: string,
  parseState: (data: unknown, file: string) => State,
): { dir: string; spec: ArchSpec; state: State } {
  const { dir: ckpt, spec } = readCheckpointSpec(dir);
  const stateFile = path.join(ckpt, STATE_JSON);
  return { dir: ckpt, spec, state: parseState(parseJsonText(readFile(stateFile).toString('utf8'), stateFile), stateFile) };
}

/** Reads a checkpoint; `parseState` validates the state JSON. */
export function loadCheckpoint<State>(
  dir: string,
  parseState: (data: unknown, file: string) => State,
): CheckpointContents<State> & { dir: string } {
  const { dir: ckpt, spec, state } = readCheckpointHead(dir, parseState);
  const modelFile = path.join(ckpt, MODEL_JSON);
  const modelJson = parseJsonText(readFile(modelFile).toString('utf8'), modelFile) as {
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const manifest = modelJson.weightsManifest?.[0];
  if (!manifest) throw new InputError(`${modelFile}: no weightsManifest`);
  const weightBytes = readFile(path.join(ckpt, manifest.paths[0] ?? WEIGHTS_BIN));
  const expected = manifest.weights.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  if (weightBytes.length !== expected)
    throw new InputError(
      `${path.join(ckpt, WEIGHTS_BIN)}: ${weightBytes.length} bytes, the manifest needs ${expected} (truncated or foreign file)`,
    );
  const buffer = weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.length);
  let offset = 0;
  const weights = manifest.weights.map((w): NamedWeight => {
    if (w.dtype !== 'float32') throw new InputError(`${modelFile}: weight ${w.name} has dtype ${w.dtype}, expected float32`);
    const size = w.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(buffer, offset, size);
    offset += 4 * size;
    return { name: w.name, shape: w.shape, values };
  });
  const slotsFile = path.join(ckpt, SLOTS_BIN);
  const slots = existsSync(slotsFile) ? decodeSlots(readFile(slotsFile), slotsFile) : [];
  return { dir: ckpt, spec, state, weights, slots };
}

/**
 * Sets the weights of `model` that `weights` names (others keep their values); a weight with the
 * wrong shape is an error. Returns how many were set.
 */
export function assignMatchingWeights(model: tf.LayersModel, weights: readonly NamedWeight[], source: string): number {
  const byName = new Map(weights.map((w) => [w.name, w]));
  let assigned = 0;
  for (const variable of model.weights) {
    const saved = byName.get(variable.originalName);
    if (!saved) continue;
    if (saved.shape.join('x') !== (variable.shape as number[]).join('x')) {
      throw new InputError(
        `${source}: weight ${variable.originalName} is ${saved.shape.join('x')}, the model needs ${(variable.shape as number[]).join('x')}`,
      );
    }
    const t = tf.tensor(saved.values, saved.shape, 'float32');
    variable.write(t);
    t.dispose();
    assigned++;
  }
  return assigned;
}

/**
 * Sets every weight of `model` from `weights` by name. Fails with an InputError naming the first
 * missing or mis-shaped weight (a checkpoint of another architecture).
 */
export function assignWeights(model: tf.LayersModel, weights: readonly NamedWeight[], source: string): void {
  const byName = new Map(weights.map((w) => [w.name, w]));
  const values = model.weights.map((variable) => {
    const saved = byName.get(variable.originalName);
    const shape = variable.shape as number[];
    if (!saved) throw new InputError(`${source}: no weight ${variable.originalName}: the checkpoint belongs to another architecture`);
    if (saved.shape.join('x') !== shape.join('x')) {
      throw new InputError(
        `${source}: weight ${variable.originalName} is ${saved.shape.join('x')}, the model needs ${shape.join('x')}: the checkpoint belongs to another architecture`,
      );
    }
    return tf.tensor(saved.values, saved.shape, 'float32');
  });
  model.setWeights(values);
  tf.dispose(values);
}
