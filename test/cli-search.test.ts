import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { PROJECT_ROOT } from '../src/common/version.js';
import { SearchRunDir } from '../src/controller/search-run.js';
import type { TrialStore } from '../src/controller/store.js';
import { NAS, nas } from './helpers/cli.js';
import { tinyExperiment, tinySearchFiles } from './helpers/search.js';

/** Process ids of the direct children of `pid` (the search's training workers). */
function childPids(pid: number): number[] {
  const out = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function files() {
  return tinySearchFiles({ budget: 6, batchSize: 3, parallel: 2 });
}

test('nas search trains children with proxy training; kill -9 loses no finished trial and --resume completes the run', async (t) => {
  const { dir, experimentFile } = files();
  const runDir = path.join(dir, 'run');
  const child = spawn(process.execPath, [NAS, 'search', '--experiment', experimentFile, '--out', runDir], {
    cwd: PROJECT_ROOT,
    stdio: 'ignore',
  });
  // Wait for the first finished trial, then kill the process without warning.
  const deadline = Date.now() + 120_000;
  let before: ReturnType<TrialStore['all']> = [];
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    if (!existsSync(path.join(runDir, 'trials.sqlite'))) continue;
    const store = new SearchRunDir(runDir).trialStore();
    before = store.all();
    store.close();
    if (before.length >= 1) break;
  }
  const workers = childPids(child.pid!);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const killedAt = performance.now();
  t.true(before.length >= 1, 'a trial finished before the kill');
  t.true(workers.length > 0, 'the search had training workers');
  while (workers.some(isAlive) && performance.now() - killedAt < 10_000) await new Promise((r) => setTimeout(r, 50));
  const orphanSeconds = (performance.now() - killedAt) / 1000;
  t.log(`training workers gone ${orphanSeconds.toFixed(2)} s after kill -9 of the search`);
  t.true(orphanSeconds < 2, 'workers exit when their parent goes away, not when their child finishes');

  const resumed = await nas('search', '--resume', runDir, '--json');
  t.is(resumed.code, 0, resumed.stderr);
  const result = JSON.parse(resumed.stdout.trim().split('\n').pop()!);
  t.is(result.trials, 6);
  t.deepEqual(Object.keys(result), ['trials', 'best', 'runDir']);
  t.deepEqual(Object.keys(result.best), ['accuracy', 'latencyMs', 'reward', 'spec']);
  const store = new SearchRunDir(runDir).trialStore();
  const after = store.all();
  store.close();
  t.is(after.length, 6);
  for (const trial of before) t.deepEqual(after[trial.trial], trial, `trial ${trial.trial} kept as it was`);
  t.true(after.some((trial) => !trial.memoised && trial.accuracy > 0 && trial.error === null));
  const validated = await nas('validate', result.best.spec, experimentFile);
  t.is(validated.code, 0, validated.stderr);
});

test('nas search: bad experiment files and resuming a non-run exit 2', async (t) => {
  const { dir } = files();
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...tinyExperiment('mnasnet', 'default'), algorithm: 'evolution' }));
  const res = await nas('search', '--experiment', bad, '--out', path.join(dir, 'x'));
  t.is(res.code, 2);
  t.regex(res.stderr, /bad\.json.*\$\.algorithm/);
  const notRun = await nas('search', '--resume', dir);
  t.is(notRun.code, 2);
  t.regex(notRun.stderr, /not a search run directory \(no run\.json\)/);
  const described = await nas('space', 'describe', 'mnasnet', '--json');
  t.is(JSON.parse(described.stdout).choicePoints.length, 42);
});
