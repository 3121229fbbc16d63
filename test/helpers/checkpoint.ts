/** Checkpoints as the tool writes them, of tiny specs. */
import { TOOL_NAME } from '../../src/common/version.js';
import { buildModel } from '../../src/trainer/build-model.js';
import { type InheritedWeightsState, saveCheckpoint } from '../../src/trainer/checkpoint.js';
import { tinySpec } from './tiny.js';

/** A checkpoint in `dir` as a supernet search writes its best-weights/: a spec, weights, and an inherited-weights state (needs a tfjs backend). */
export async function inheritedCheckpoint(dir: string, state: Partial<InheritedWeightsState> = {}): Promise<string> {
  const spec = tinySpec({ resolution: 16, name: 'tiny-best' });
  const model = buildModel(spec);
  try {
    await saveCheckpoint(dir, model, spec, { kind: 'inherited-weights', tool: TOOL_NAME, validationTop1: 0.5, ...state });
  } finally {
    model.dispose();
  }
  return dir;
}
