/**
 * The directory of a supernet search run: a search run (run.json, the trial store, best.json, the
 * Pareto front and reward plots, summary.json) plus the supernet's checkpoint and the ranked
 * candidates. Owned here; the supernet search reaches every file through a SupernetRunDir.
 *
 * The checkpoint is a binary file of the shared weights and optimizer slots and a JSON state that
 * names it. The binary is written first under a new name, then the state that points at it, so
 * a kill at any moment leaves the previous checkpoint or the new one complete.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../common/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../common/json-io.js';
import { parseWith } from '../common/validate.js';
import { TOOL_NAME } from '../common/version.js';
import { SearchRunDir } from '../controller/search-run.js';

/** The files a supernet run holds besides those of every search run. */
export const SUPERNET_RUN_FILES = {
  checkpointDir: 'supernet',
  checkpointState: 'supernet/state.json',
  candidates: 'candidates.json',
  candidateSpecs: 'candidates',
  controllerBest: 'controller-best.json',
  bestWeights: 'best-weights',
  /** The fine-tuned candidates (settings.finetuneSteps): each one's inherited and fine-tuned checkpoints. */
  finetuned: 'finetuned',
} as const;

/** What each fine-tuned candidate's directory holds (finetuned/candidate-N/). */
const FINETUNE_FILES = { inherited: 'inherited', finetuned: 'finetuned', result: 'result.json' } as const;

const PendingBatchSchema = z.object({
  choices: z.array(z.array(z.int())),
  logProbs: z.array(z.number()),
  rewards: z.array(z.number()),
});
export type PendingBatch = z.infer<typeof PendingBatchSchema>;

const CheckpointStateSchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('supernet-checkpoint'),
  tool: z.string(),
  /** Training steps done; trials recorded (the store may hold later ones, written after this checkpoint). */
  step: z.int().min(0),
  trials: z.int().min(0),
  controllerBatches: z.int().min(0),
  /** The controller batch being rewarded when the checkpoint was taken. */
  pending: PendingBatchSchema.nullable(),
  controller: z.looseObject({ algorithm: z.string() }),
  trainSeconds: z.number().min(0),
  lastLoss: z.number().nullable(),
  /** The binary file, and the name and length of every array in it, in order. */
  weightsFile: z.string(),
  arrays: z.array(z.object({ name: z.string(), length: z.int().min(0) })),
  savedAt: z.string(),
});
export type SupernetCheckpointState = z.infer<typeof CheckpointStateSchema>;

/** `finetuned/candidate-N/result.json`: a finished fine-tune, which a resumed run keeps instead of redoing. */
const FinetuneResultSchema = z.object({
  schemaVersion: z.literal(1),
  kind: z.literal('supernet-finetune'),
  tool: z.string(),
  choices: z.array(z.int().min(0)),
  /** Validation top-1 after the fine-tune (0 when it failed). */
  accuracy: z.number().min(0).max(1),
  error: z.string().nullable(),
  seconds: z.number().min(0),
});
export type FinetuneResult = z.infer<typeof FinetuneResultSchema>;

export interface SupernetCheckpoint {
  state: SupernetCheckpointState;
  /** The arrays of the binary file, by name. */
  arrays: Map<string, Float32Array>;
}

export class SupernetRunDir extends SearchRunDir {
  supernetFile(name: keyof typeof SUPERNET_RUN_FILES): string {
    return path.join(this.dir, SUPERNET_RUN_FILES[name]);
  }

  candidateSpecFile(rank: number): string {
    return path.join(this.supernetFile('candidateSpecs'), `rank-${rank}.json`);
  }

  /** The directory of the `rank`-th candidate's fine-tune: `inherited/` and `finetuned/` checkpoints and result.json. */
  finetuneDir(rank: number): string {
    return path.join(this.supernetFile('finetuned'), `candidate-${rank}`);
  }

  /** A file or directory of the `rank`-th candidate's fine-tune (see finetuneDir). */
  finetuneFile(rank: number, name: keyof typeof FINETUNE_FILES): string {
    return path.join(this.finetuneDir(rank), FINETUNE_FILES[name]);
  }

  /** The `rank`-th candidate's finished fine-tune, if it was of the member `choices` (null: to be done). */
  readFinetuneResult(rank: number, choices: readonly number[]): FinetuneResult | null {
    const file = this.finetuneFile(rank, 'result');
    if (!existsSync(file)) return null;
    const result = parseWith(FinetuneResultSchema, readJsonFile(file), file);
    return result.choices.join(',') === choices.join(',') ? result : null;
  }

  async writeFinetuneResult(rank: number, result: Omit<FinetuneResult, 'schemaVersion' | 'kind' | 'tool'>): Promise<void> {
    const full: FinetuneResult = { schemaVersion: 1, kind: 'supernet-finetune', tool: TOOL_NAME, ...result };
    await writeJsonAtomic(this.finetuneFile(rank, 'result'), full);
  }

  readCheckpoint(): SupernetCheckpoint | null {
    const file = this.supernetFile('checkpointState');
    if (!existsSync(file)) return null;
    const state = parseWith(CheckpointStateSchema, readJsonFile(file), file);
    const binary = path.join(this.supernetFile('checkpointDir'), state.weightsFile);
    if (!existsSync(binary))
      throw new InputError(`${binary}: missing, though ${file} names it: the checkpoint is damaged; start a new run`);
    const bytes = readFileSync(binary);
    const total = state.arrays.reduce((n, a) => n + a.length, 0);
    if (bytes.byteLength !== total * 4) {
      throw new InputError(`${binary}: ${bytes.byteLength} bytes, ${file} lists ${total * 4}: the checkpoint is damaged; start a new run`);
    }
    const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const arrays = new Map<string, Float32Array>();
    let offset = 0;
    for (const a of state.arrays) {
      arrays.set(a.name, all.subarray(offset, offset + a.length));
      offset += a.length;
    }
    return { state, arrays };
  }

  async writeCheckpoint(
    state: Omit<SupernetCheckpointState, 'schemaVersion' | 'kind' | 'tool' | 'weightsFile' | 'arrays' | 'savedAt'>,
    arrays: readonly { name: string; values: Float32Array }[],
  ): Promise<void> {
    const dir = this.supernetFile('checkpointDir');
    mkdirSync(dir, { recursive: true });
    const weightsFile = `weights-${state.step}.bin`;
    const total = arrays.reduce((n, a) => n + a.values.length, 0);
    const all = new Float32Array(total);
    let offset = 0;
    for (const a of arrays) {
      all.set(a.values, offset);
      offset += a.values.length;
    }
    await writeFileAtomic(path.join(dir, weightsFile), new Uint8Array(all.buffer));
    const full: SupernetCheckpointState = {
      schemaVersion: 1,
      kind: 'supernet-checkpoint',
      tool: TOOL_NAME,
      ...state,
      weightsFile,
      arrays: arrays.map((a) => ({ name: a.name, length: a.values.length })),
      savedAt: new Date().toISOString(),
    };
    await writeJsonAtomic(this.supernetFile('checkpointState'), full);
    for (const old of readdirSync(dir))
      if (/^weights-\d+\.bin$/.test(old) && old !== weightsFile) rmSync(path.join(dir, old), { force: true });
  }
}
