/**
 * The kinds of JSON file this tool writes (their "kind" field), what each is and the command that
 * reads it: a file of one kind given where another is expected (a search's run.json as a spec) is
 * named for what it is, instead of failing field by field against the schema expected.
 */
import { commandLine, resumeCommand, shellArg } from './command-line.js';
import { InputError } from './errors.js';

interface FileKind {
  what: string;
  /** The command that reads a file of this kind at `file`, as a clause. */
  readBy: (file: string) => string;
}

// String operations, not node:path: table and space parsing use this module, and the phone
// profiler's browser bundle includes them.
/** The directory of a file path. */
const dir = (file: string) => {
  const slash = file.lastIndexOf('/');
  return slash < 0 ? '.' : slash === 0 ? '/' : file.slice(0, slash);
};

const searchRun = (file: string) =>
  `${resumeCommand('search', dir(file))} continues the run; the spec it found is ${shellArg(`${dir(file)}/best.json`)}`;
const trainRun = (file: string) =>
  `${commandLine(['nas', 'eval', '--checkpoint', dir(file)])} scores the run's model, ${resumeCommand('train', dir(file))} continues it`;
/** The commands that read weights in `weightsDir` of the spec `spec`: a fine-tune from them (`fineTunes` says how), and a score. */
const weightsReadBy = (weightsDir: string, spec: string, fineTunes: string) =>
  `${commandLine(['nas', 'train', '--init-from', weightsDir, '--arch', spec])} ${fineTunes}, ${commandLine(['nas', 'eval', '--checkpoint', weightsDir])} scores them`;
const netadaptRun = (file: string) => `${resumeCommand('netadapt', dir(file))} continues the run`;
const pipelineRun = (file: string) => `${resumeCommand('pipeline', dir(file))} continues the pipeline`;

const FILE_KINDS: Record<string, FileKind> = {
  archspec: { what: 'an ArchSpec', readBy: (file) => `${commandLine(['nas', 'describe', file])} prints its layers` },
  experiment: { what: 'an experiment', readBy: (file) => `${commandLine(['nas', 'search', '--experiment', file])} runs it` },
  'search-space': {
    what: 'a search space',
    readBy: (file) => `${commandLine(['nas', 'space', 'describe', file])} lists its choice points`,
  },
  'latency-table': { what: 'a latency table', readBy: (file) => `${commandLine(['nas', 'latency', '--table', file])} prices specs on it` },
  'search-run': { what: "a search run's record", readBy: searchRun },
  'search-summary': { what: "a search run's summary", readBy: searchRun },
  'controller-checkpoint': { what: "a search run's controller checkpoint", readBy: searchRun },
  'pareto-front': { what: "a search run's Pareto front", readBy: searchRun },
  'supernet-candidates': { what: "a supernet search run's ranked candidates", readBy: searchRun },
  'supernet-checkpoint': {
    what: "a supernet search run's checkpoint",
    readBy: () => 'nas search --resume reads it from its run directory',
  },
  'supernet-finetune': { what: "a supernet search run's fine-tune", readBy: () => 'nas search --resume reads it from its run directory' },
  'inherited-weights': {
    what: "a supernet member's inherited weights",
    readBy: (file) => weightsReadBy(dir(file), `${dir(file)}/spec.json`, 'fine-tunes them'),
  },
  'supernet-finetuned-weights': {
    what: "a supernet search's fine-tuned best weights",
    readBy: (file) => weightsReadBy(dir(file), `${dir(file)}/checkpoint/spec.json`, 'fine-tunes them further'),
  },
  'train-run': { what: "a training run's record", readBy: trainRun },
  'train-result': { what: "a training run's result", readBy: trainRun },
  'trainer-state': {
    what: 'a training checkpoint',
    readBy: (file) => `${commandLine(['nas', 'eval', '--checkpoint', dir(file)])} scores its model`,
  },
  'netadapt-history': { what: "a NetAdapt run's history", readBy: netadaptRun },
  'netadapt-summary': { what: "a NetAdapt run's summary", readBy: netadaptRun },
  'pipeline-run': { what: "a pipeline's record", readBy: pipelineRun },
  'pipeline-report': { what: "a pipeline's report", readBy: pipelineRun },
  'zoo-training': { what: "a pipeline's cached zoo training", readBy: () => 'nas pipeline reads it' },
  'latency-validation': { what: "a latency table's validation record", readBy: () => 'nas latency validate --resume continues it' },
  'phone-profile-session': { what: 'a phone profiling session', readBy: () => 'nas profile --serve with the same --out continues it' },
};

/** What a file of `kind` at `file` is and the command that reads it, as clauses; null for a kind this tool does not write. */
export function describeFileKind(kind: string, file: string): { what: string; readBy: string } | null {
  if (!Object.hasOwn(FILE_KINDS, kind)) return null;
  const { what, readBy } = FILE_KINDS[kind]!;
  return { what, readBy: readBy(file) };
}

/**
 * The error for `data` read from `file` when its "kind" names another known kind than the ones
 * `expected` lists (e.g. `['archspec']`), saying what it is and which command reads it; else null.
 */
export function otherKindError(data: unknown, file: string, expected: readonly string[], expectedWhat: string): InputError | null {
  const kind = data && typeof data === 'object' ? (data as { kind?: unknown }).kind : undefined;
  const known = typeof kind === 'string' && !expected.includes(kind) ? describeFileKind(kind, file) : null;
  return known && new InputError(`${file}: ${known.what} (kind "${kind}"), not ${expectedWhat}: ${known.readBy}`);
}
