/** Runs the `nas` CLI as a user would (bin/nas.js in a child process) and returns its exit code and output. */
import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/common/version.js';

const run = promisify(execFile);
/**
 * bin/nas.js under the name a global install links it as, so that the commands messages name read
 * `nas ...` (given bin/nas.js itself, they read `node bin/nas.js ...`).
 */
export const NAS = linkedAsNas();

function linkedAsNas(): string {
  const link = path.join(mkdtempSync(path.join(tmpdir(), 'nas-bin-')), 'nas');
  symlinkSync(path.join(PROJECT_ROOT, 'bin', 'nas.js'), link);
  return link;
}

/** A command still running this long is killed, so a hang fails its test with the output so far (ava's timeout is 5 min). */
const HANG_MS = 150_000;

export function nas(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return nasIn(PROJECT_ROOT, ...args);
}

/** `nas` run in the working directory `cwd` (where its relative paths, such as the default runs/, start). */
export async function nasIn(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const options = { cwd, maxBuffer: 1 << 24, timeout: HANG_MS, killSignal: 'SIGKILL' as const };
    const { stdout, stderr } = await run(process.execPath, [NAS, ...args], options);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string; killed?: boolean };
    const hang = e.killed ? `\n[test] nas ${args.join(' ')}: killed after ${HANG_MS / 1000} s without exiting` : '';
    return { code: e.code, stdout: e.stdout, stderr: e.stderr + hang };
  }
}

/**
 * `nas train` for one epoch of a few images: a checkpoint for the tests of what starts from one.
 * Its result is scored on the first 200 test images (scoring all 10,000 took most of its time), or
 * on the whole test split with `test: 'all'`.
 */
export function nasTrainTiny(
  arch: string,
  out: string,
  images: { train: number; validation: number; test?: number | 'all' },
  ...extra: string[]
) {
  const test = images.test ?? 200;
  const counts = [
    ...['--train-samples', String(images.train), '--validation-samples', String(images.validation)],
    ...(test === 'all' ? [] : ['--test-samples', String(test)]),
  ];
  return nas('train', '--arch', arch, '--epochs', '1', ...counts, '--out', out, ...extra);
}
