/**
 * Benchmarks run for hours, so their command lines are strict: `--help` prints the usage, and a
 * typo or an unknown option exits 2 before any work starts instead of running with the defaults.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { PROJECT_ROOT } from '../src/common/version.js';

const run = promisify(execFile);

/** bench/ modules the benchmarks import, not benchmarks themselves. */
const LIBRARIES = new Set(['report', 'retime', 'zoo-latencies']);
const BENCHES = readdirSync(path.join(PROJECT_ROOT, 'bench'))
  .filter((file) => file.endsWith('.ts'))
  .map((file) => file.slice(0, -'.ts'.length))
  .filter((name) => !LIBRARIES.has(name));

function benchScript(name: string): string {
  return path.join(PROJECT_ROOT, 'dist', 'bench', `${name}.js`);
}

test('every benchmark prints its usage for --help and exits 0', async (t) => {
  t.true(BENCHES.length >= 10, `benchmarks found: ${BENCHES.join(', ')}`);
  for (const name of BENCHES) {
    const { stdout } = await run(process.execPath, [benchScript(name), '--help'], { cwd: PROJECT_ROOT });
    t.regex(stdout, new RegExp(`^usage: node dist/bench/${name}\\.js`), name);
  }
});

test('an unknown option exits 2 naming it, before the benchmark starts', async (t) => {
  for (const name of BENCHES) {
    const error = await t.throwsAsync<Error & { code: number; stderr: string; stdout: string }>(
      run(process.execPath, [benchScript(name), '--no-such-option'], { cwd: PROJECT_ROOT }),
    );
    t.is(error?.code, 2, name);
    t.regex(error?.stderr ?? '', /Unknown option '--no-such-option'/, name);
    t.is(error?.stdout, '', `${name} printed nothing else`);
  }
});

test('a number option given something else exits 2 naming the option', async (t) => {
  const error = await t.throwsAsync<Error & { code: number; stderr: string }>(
    run(process.execPath, [benchScript('search-vs-zoo'), '--seeds', '1,two'], { cwd: PROJECT_ROOT }),
  );
  t.is(error?.code, 2);
  t.regex(error?.stderr ?? '', /--seeds expects a number or a comma-separated list of numbers, got '1,two'/);
});
