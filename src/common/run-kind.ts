/**
 * What a directory holds, read from the records the run modules write there (each JSON with a
 * `kind`), so that no command writes its run into a directory holding another kind: a training
 * would replace a search's run.json, a search would mix its files into a training's. Every run
 * module calls refuseOtherRunKind before it writes into its directory. The files and kinds listed
 * here are the run modules' own (test/run-kind.test.ts checks them against the modules).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from './errors.js';
import { describeFileKind } from './file-kinds.js';

/** The runs a command writes into a directory of their own. */
export type RunKind = 'search' | 'train' | 'netadapt' | 'pipeline';

const RUN_NAMES: Record<RunKind, string> = {
  search: 'a search run',
  train: 'a training run',
  netadapt: 'a NetAdapt run',
  pipeline: 'a pipeline',
};

/**
 * A record a run module writes, by its file (relative to the directory) and `kind`: the run it is
 * the record of, or (no `run`) a checkpoint, which file-kinds.ts says what to do with.
 */
type KnownRecord = { file: string; kind: string; run?: RunKind };

const KNOWN_RECORDS: readonly KnownRecord[] = [
  // First: the fine-tuned best weights hold an ordinary training checkpoint as well.
  { file: 'finetuned-weights.json', kind: 'supernet-finetuned-weights' },
  { file: 'run.json', kind: 'search-run', run: 'search' },
  { file: 'run.json', kind: 'train-run', run: 'train' },
  { file: 'result.json', kind: 'train-result', run: 'train' },
  { file: 'checkpoint/state.json', kind: 'trainer-state', run: 'train' },
  { file: 'checkpoint/state.json', kind: 'inherited-weights' },
  { file: 'history.json', kind: 'netadapt-history', run: 'netadapt' },
  { file: 'pipeline.json', kind: 'pipeline-run', run: 'pipeline' },
  { file: 'state.json', kind: 'trainer-state' },
  { file: 'state.json', kind: 'inherited-weights' },
];

/** The `kind` of a JSON file, or null (no such file, not JSON, no kind). */
function recordKind(file: string): string | null {
  try {
    const kind = (JSON.parse(readFileSync(file, 'utf8')) as { kind?: unknown } | null)?.kind;
    return typeof kind === 'string' ? kind : null;
  } catch {
    return null;
  }
}

/** Refuses to write a run of `kind` into `dir` when the directory holds something else this tool wrote: another kind of run, or a checkpoint. */
export function refuseOtherRunKind(dir: string, kind: RunKind): void {
  const other = KNOWN_RECORDS.find((record) => record.run !== kind && recordKind(path.join(dir, record.file)) === record.kind);
  if (!other) return;
  const described = other.run ? null : describeFileKind(other.kind, path.join(dir, other.file));
  const holds = other.run ? RUN_NAMES[other.run] : (described?.what ?? `a "${other.kind}" file`);
  throw new InputError(
    `${dir} holds ${holds} (its ${other.file} is of kind "${other.kind}"), not ${RUN_NAMES[kind]}: choose another --out${described ? `; ${described.readBy}` : ''}`,
  );
}
