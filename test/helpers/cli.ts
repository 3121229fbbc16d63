/** Runs the `nas` CLI as a user would (bin/nas.js in a child process) and returns its exit code and output. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/common/version.js';

const run = promisify(execFile);
export const NAS = path.join(PROJECT_ROOT, 'bin', 'nas.js');

export async function nas(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [NAS, ...args], { cwd: PROJECT_ROOT, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
